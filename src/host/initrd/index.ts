// The guest image builder: an initrd with busybox, /init, and the agent with its own Node runtime.
export { BUNDLE_BANNER, bundleAgent, findSpawnHelper, findVsockAddon, nodePtyFiles, type AgentBundle, type AgentBundleOptions, type PackageFile } from './AgentBundle.js';
export { CpioArchive, checkArchivePath, type CpioEntry, type CpioPlan, type FileSource } from './CpioWriter.js';
export { readElfInfo, readLdSoCache, resolveRuntimeDependencies, type DependencyOptions, type ElfInfo, type RuntimeDependencies, type SharedObject } from './ElfDependencies.js';
export { InitrdError, type InitrdErrorCode } from './errors.js';
export {
  buildImage,
  collectImageInputs,
  hashImage,
  imageEntries,
  initrdEntries,
  planImage,
  runtimeImageEntries,
  writeImage,
  writeImageFiles,
  type ImageBuildOptions,
  type ImageBuildResult,
  type ImageInputs,
} from './ImageBuilder.js';
export { findProjectRoot } from '../projectRoot.js';
export { ensureImage, hashFileOf, type EnsureImageResult } from './ImageCache.js';
export { AGENT_BUNDLE_NAME, defaultLoaderName, imageLayout, launcherScript, nodeCommand, VSOCK_ADDON_ENV, type ImageLayout } from './ImageLayout.js';
export { renderGuestConfig, shellQuote, type GuestConfig } from './GuestConfig.js';
export {
  DEFAULT_AGENT_PORT,
  ENTRYPOINT_SHIM_SOURCE,
  entrypointShim,
  INIT_PARAMETERS,
  INIT_SCRIPT_SOURCE,
  renderInitParameters,
  renderInitScript,
  RUNTIME_IMAGE_DEVICE,
  type InitParameter,
  type InitScriptOptions,
} from './InitScript.js';
export {
  INIT_KERNEL_MODULES,
  MODULE_LOAD_LIST,
  modinfo,
  modinfoDepends,
  moduleLoadList,
  readModule,
  resolveKernelModules,
  RUNTIME_IMAGE_KERNEL_MODULES,
  type KernelModule,
  type KernelModuleSet,
  type WantedModule,
} from './KernelModules.js';
export { writeRuntimeImage, type RuntimeImageResult } from './RuntimeImage.js';
export { elfSection } from './ElfHeader.js';
