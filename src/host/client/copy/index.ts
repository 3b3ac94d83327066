export { copyFromInstance, copyToInstance, copyUrl, statInInstance, type CopyFromOptions, type CopyTarget, type CopyToOptions, type PathStat } from './copyInstance.js';
export type { CopyEntry, CopyProgress, CopyResult, CopySink, CopySource, SourceEntry } from './CopyStreams.js';
export { LocalTreeSink, type LocalTreeSinkOptions } from './LocalTreeSink.js';
export { LocalTreeSource, type LocalTreeOptions } from './LocalTreeSource.js';
export { TarSink } from './tar/TarSink.js';
export { TarSource } from './tar/TarSource.js';
