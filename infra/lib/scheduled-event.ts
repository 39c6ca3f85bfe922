/** The event a schedule sends the function: `{"now-playing-job": NAME}` and nothing else.
 *  No HTTP front can send it (their events always carry a method, a path and a request
 *  context), so no visitor can start a job; `lambda/src/invocation.rs` reads it, and
 *  lambda/tests/data/events/ holds each one. */
export type Job = 'keep-fresh' | 'daily-digest' | 'health-check';

export function scheduledJob(job: Job): { readonly 'now-playing-job': Job } {
  return { 'now-playing-job': job };
}
