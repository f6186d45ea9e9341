// The part of sherpa-onnx-node (which ships no types) that test/helpers/sherpa-reference.ts uses.
declare module 'sherpa-onnx-node' {
  interface OnlineStream {
    acceptWaveform(w: { sampleRate: number; samples: Float32Array }): void;
    inputFinished(): void;
  }
  interface SherpaOnnx {
    SpeakerEmbeddingExtractor: new (config: { model: string; numThreads: number; debug: boolean }) => {
      dim: number;
      createStream(): OnlineStream;
      isReady(stream: OnlineStream): boolean;
      compute(stream: OnlineStream, enableExternalBuffer?: boolean): Float32Array;
    };
    readWave(file: string): { sampleRate: number; samples: Float32Array };
  }
  const sherpa: SherpaOnnx;
  export = sherpa;
}
