// A minimal voice agent that hears through earshot. Run: `node --import tsx examples/agent.ts dev`
// with LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET and EARSHOT_URL in the environment.
import {
  type JobContext,
  type JobProcess,
  ServerOptions,
  cli,
  defineAgent,
  inference,
  voice,
} from '@livekit/agents';
import * as silero from '@livekit/agents-plugin-silero';
import { fileURLToPath } from 'node:url';
import * as earshot from '@earshot/livekit-plugin';

export default defineAgent({
  prewarm: async (proc: JobProcess) => {
    proc.userData.vad = await silero.VAD.load();
  },
  entry: async (ctx: JobContext) => {
    const session = new voice.AgentSession({
      stt: new earshot.STT({
        url: process.env.EARSHOT_URL ?? 'http://localhost:8080',
        // A function is called for every (re)connection, so short-lived JWTs keep working.
        token: async () => process.env.EARSHOT_TOKEN ?? '',
        language: 'en',
      }),
      vad: ctx.proc.userData.vad as silero.VAD,
      llm: new inference.LLM({ model: 'openai/gpt-4.1-mini' }),
      tts: new inference.TTS({ model: 'cartesia/sonic-3' }),
      connOptions: { sttConnOptions: { maxRetry: 5, retryIntervalMs: 500, timeoutMs: 10_000 } },
    });
    await session.start({
      agent: new voice.Agent({ instructions: 'You are a helpful voice assistant.' }),
      room: ctx.room,
    });
  },
});

cli.runApp(new ServerOptions({ agent: fileURLToPath(import.meta.url) }));
