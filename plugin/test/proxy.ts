import net from 'node:net';

/**
 * A TCP front for an earshot server. Each new connection is handled by `decide(n)` (n counts from 1):
 * 'pipe' forwards it byte for byte, `{ to: port }` forwards it to another server, `{ status }` answers that HTTP
 * status (with Retry-After: 0) instead. `cut()` drops every live piped connection, as a network failure would.
 */
export type Decision = 'pipe' | { to: number } | { status: number };

export interface Front {
  url: string;
  connections: number;
  cut(): number;
  close(): Promise<void>;
}

export async function startFront(
  targetPort: number,
  decide: (n: number) => Decision = () => 'pipe',
): Promise<Front> {
  const live = new Set<net.Socket>();
  const front = {
    url: '',
    connections: 0,
    cut(): number {
      const n = live.size;
      for (const s of live) s.destroy();
      live.clear();
      return n;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const server = net.createServer((client) => {
    const what = decide(++front.connections);
    if (what !== 'pipe' && 'status' in what) {
      client.once('data', () => {
        const body = JSON.stringify({ error: { code: 'TEST', message: `refused with ${what.status}` } });
        client.end(
          `HTTP/1.1 ${what.status} Refused\r\nContent-Type: application/json\r\nRetry-After: 0\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      client.on('error', () => {});
      return;
    }
    const upstream = net.connect(what === 'pipe' ? targetPort : what.to, '127.0.0.1');
    live.add(client);
    client.on('close', () => {
      live.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  front.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return front;
}
