import { CodedError } from '../../wire/index.js';

/** Registry failures; `code` is stable, messages say what to do. */
export class RegistryError extends CodedError {}

export class InvalidInstanceIdError extends RegistryError {
  constructor(value: string, why: string) {
    super('INVALID_INSTANCE_ID', `${JSON.stringify(value.slice(0, 80))} is not a valid instance id or name: ${why}`);
  }
}

export class InstanceNotFoundError extends RegistryError {
  constructor(idOrName: string) {
    super('INSTANCE_NOT_FOUND', `no instance with id or name ${JSON.stringify(idOrName)}`);
  }
}

/** Two or more instances carry the name; the caller must say which by id. */
export class AmbiguousInstanceNameError extends RegistryError {
  readonly ids: string[];

  constructor(name: string, ids: string[]) {
    super('AMBIGUOUS_INSTANCE_NAME', `${ids.length} instances are named ${JSON.stringify(name)} (ids ${ids.join(', ')}); use the id`);
    this.ids = ids;
  }
}

export class InstanceNotRunningError extends RegistryError {
  readonly state: string;

  constructor(id: string, state: string) {
    super('INSTANCE_NOT_RUNNING', `instance ${id} is ${state}, not running; start it first`);
    this.state = state;
  }
}

export class NoVsockConfiguredError extends RegistryError {
  constructor(id: string) {
    super('NO_VSOCK', `instance ${id} has no vsock device configured (neither a socket path nor a CID); it cannot run commands`);
  }
}

export class CorruptRecordError extends RegistryError {
  constructor(path: string, why: string) {
    super('CORRUPT_RECORD', `the instance record ${path} is not valid (${why}); fix or remove it`);
  }
}
