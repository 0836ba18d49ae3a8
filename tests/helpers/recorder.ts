import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the recorder received it. */
export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** How the recorder answers one request. */
export interface CannedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (to exercise client timeouts). */
  hang?: boolean;
}

export interface Recorder {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  requests: RecordedRequest[];
  /** Sets how the next requests are answered, in order; the last answer repeats. */
  answer(...answers: Array<CannedAnswer | ((request: RecordedRequest, index: number) => CannedAnswer)>): void;
  close(): Promise<void>;
}

/**
 * A local HTTP server standing in for a SaaS API this machine cannot reach: it records every
 * request and answers with canned responses written from the API's documentation.
 */
export async function startRecorder(): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  let answers: Array<CannedAnswer | ((request: RecordedRequest, index: number) => CannedAnswer)> = [{ status: 500, body: 'no answer configured' }];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const index = requests.push(recorded) - 1;
      const planned = answers[Math.min(index, answers.length - 1)]!;
      const answer = typeof planned === 'function' ? planned(recorded, index) : planned;
      if (answer.hang) return;
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answer(...next) {
      answers = next;
      requests.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
