export { STT, type STTInit } from './stt.js';
export { SpeechStream } from './stream.js';
export { DEFAULT_OPTIONS, type STTOptions, type TokenSource } from './options.js';
export { HandshakeRefused } from './connection.js';
