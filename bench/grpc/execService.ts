// The baseline's exec.proto loaded with @grpc/proto-loader, and its message shapes.
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { PROJECT } from '../paths.js';

export interface GrpcExecStart {
  command: string[];
  tty?: boolean;
  env?: Record<string, string>;
  cwd?: string;
  timeout_seconds?: number;
}

export interface GrpcExecRequest {
  start?: GrpcExecStart;
  stdin?: Buffer;
  resize?: { rows: number; cols: number };
  request?: 'start' | 'stdin' | 'resize';
}

export interface GrpcExecResponse {
  stdout?: Buffer;
  stderr?: Buffer;
  exit_code?: number;
  response?: 'stdout' | 'stderr' | 'exit_code';
}

const definition = protoLoader.loadSync(join(PROJECT, 'bench/grpc/exec.proto'), {
  keepCase: true,
  longs: Number,
  oneofs: true,
});

const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  exec: { ExecService: grpc.ServiceClientConstructor };
};

export const ExecServiceClient = loaded.exec.ExecService;
export const execServiceDefinition = ExecServiceClient.service;
