// BullMQ side of the queue benchmark: enqueue N no-op jobs with no worker
// running (addBulk, 1,000 per call), then start one Worker with concurrency C
// and time the drain. Prints one JSON line. Usage: node bench.mjs [JOBS] [CONCURRENCY]
import { Queue, Worker } from 'bullmq';

const jobs = Number(process.argv[2] ?? 50000);
const concurrency = Number(process.argv[3] ?? 50);
const url = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: url.hostname, port: Number(url.port || 6379) };
const name = `bench-${process.pid}`;

const queue = new Queue(name, { connection });
let t = performance.now();
for (let i = 0; i < jobs; i += 1000) {
  const batch = [];
  for (let n = i; n < Math.min(i + 1000, jobs); n++) batch.push({ name: 'noop', data: { n } });
  await queue.addBulk(batch);
}
const enqueueSecs = (performance.now() - t) / 1000;

let done = 0;
let finish;
const drained = new Promise((resolve) => (finish = resolve));
t = performance.now();
const worker = new Worker(name, async () => {}, { connection, concurrency, autorun: false });
worker.on('completed', () => {
  if (++done === jobs) finish();
});
worker.run();
await drained;
const processSecs = (performance.now() - t) / 1000;
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
console.log(JSON.stringify({
  system: 'bullmq', jobs, concurrency,
  enqueue_secs: enqueueSecs, enqueue_per_sec: jobs / enqueueSecs,
  process_secs: processSecs, process_per_sec: jobs / processSecs,
}));
