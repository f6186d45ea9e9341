/** The pipeline's one internal sample rate: Whisper's log-mel front end and Silero VAD both take 16 kHz mono. */
export const SAMPLE_RATE = 16_000;
