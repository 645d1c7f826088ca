// BullMQ (its queue operations are Redis Lua scripts: addJob, moveToActive, moveToFinished,
// retryJob, moveStalledJobsToWait, ...) against a server on 127.0.0.1:PORT. Run by
// tests/lua_libraries.rs against redis-server first (the script must pass there) and then
// against ember-server.
//
// A worker (concurrency 4) processes N plain jobs, delayed jobs (not before their delay),
// jobs that fail twice and succeed on the third attempt (fixed backoff), a job that fails for
// good after its attempts, prioritised jobs, and a job removed before it runs. Usage:
// node queue.mjs PORT. Exit 0 and a last line "bullmq: ... checks passed".
import { Queue, Worker, QueueEvents } from 'bullmq';

const port = Number(process.argv[2]);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const N = 60;
let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks += 1;
}

const name = 'ember-test';
const queue = new Queue(name, { connection });
await queue.obliterate({ force: true });
const events = new QueueEvents(name, { connection });
await events.waitUntilReady();

const started = Date.now();
const attemptsSeen = new Map();
const ranAt = new Map();
const worker = new Worker(
  name,
  async (job) => {
    ranAt.set(job.id, Date.now());
    attemptsSeen.set(job.id, job.attemptsMade + 1);
    if (job.name === 'flaky' && job.attemptsMade < 2) throw new Error(`flaky attempt ${job.attemptsMade + 1}`);
    if (job.name === 'doomed') throw new Error('always fails');
    await job.updateProgress(50);
    return { doubled: job.data.n * 2 };
  },
  { connection, concurrency: 4 },
);

await queue.addBulk(Array.from({ length: N }, (_, n) => ({ name: 'plain', data: { n }, opts: { jobId: `plain-${n}` } })));
for (let i = 0; i < 5; i++) {
  await queue.add('delayed', { n: 100 + i }, { jobId: `delayed-${i}`, delay: 400 + 100 * i });
}
for (let i = 0; i < 3; i++) {
  await queue.add('flaky', { n: 200 + i }, { jobId: `flaky-${i}`, attempts: 3, backoff: { type: 'fixed', delay: 50 } });
}
await queue.add('doomed', { n: 300 }, { jobId: 'doomed', attempts: 2, backoff: { type: 'fixed', delay: 30 } });
for (let i = 0; i < 4; i++) {
  await queue.add('prio', { n: 400 + i }, { jobId: `prio-${i}`, priority: 4 - i });
}
const gone = await queue.add('removed', { n: 500 }, { jobId: 'removed', delay: 60000 });
await gone.remove();
check((await queue.getJob('removed')) === undefined, 'a removed job is gone');

const total = N + 5 + 3 + 4;
const deadline = Date.now() + 40000;
let counts;
for (;;) {
  counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized');
  if (counts.completed === total && counts.failed === 1) break;
  if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(counts)}`);
  await new Promise((r) => setTimeout(r, 50));
}
check(counts.waiting === 0 && counts.active === 0 && counts.delayed === 0, `nothing left: ${JSON.stringify(counts)}`);

for (let n = 0; n < N; n++) {
  const job = await queue.getJob(`plain-${n}`);
  check(job && job.returnvalue && job.returnvalue.doubled === 2 * n, `plain-${n} result ${JSON.stringify(job && job.returnvalue)}`);
  check(job.progress === 50, `plain-${n} progress`);
  check(job.finishedOn >= job.processedOn, `plain-${n} timestamps`);
}
for (let i = 0; i < 5; i++) {
  const job = await queue.getJob(`delayed-${i}`);
  check(job.returnvalue.doubled === 2 * (100 + i), `delayed-${i} result`);
  check(ranAt.get(`delayed-${i}`) - started >= 400 + 100 * i - 20, `delayed-${i} ran only after its delay`);
}
for (let i = 0; i < 3; i++) {
  const job = await queue.getJob(`flaky-${i}`);
  check(job.attemptsMade === 3 || attemptsSeen.get(`flaky-${i}`) === 3, `flaky-${i} took 3 attempts`);
  check(job.returnvalue.doubled === 2 * (200 + i), `flaky-${i} result`);
}
const doomed = await queue.getJob('doomed');
check(doomed.failedReason === 'always fails', `doomed failed: ${doomed.failedReason}`);
check(doomed.attemptsMade === 2, `doomed attempts ${doomed.attemptsMade}`);
check((await queue.getFailed()).map((j) => j.id).join() === 'doomed', 'the failed list');
check((await queue.getCompletedCount()) === total, 'completed count');

await worker.close();
await events.close();
await queue.obliterate({ force: true });
check((await queue.getJobCounts('completed', 'failed')).completed === 0, 'obliterated');
await queue.close();
console.log(`bullmq: ${total + 1} jobs, ${checks} checks passed`);
process.exit(0);
