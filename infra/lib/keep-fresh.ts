/** The keep-fresh schedule: every 10 minutes a rule invokes the function with the
 *  `keep-fresh` job event (which no visitor can send), and the function refreshes the shared access token when it has under 15
 *  minutes left. The first visitor after a quiet spell then never waits for the accounts
 *  service; Spotify still sees about one refresh an hour. */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { scheduledJob } from './scheduled-event';

/** Shorter than the 15 minutes ahead the function refreshes (KEEP_FRESH_AHEAD), so the
 *  token cannot lapse between two runs. */
export const KEEP_FRESH_EVERY = Duration.minutes(10);

/** lambda/tests/data/events/scheduled_keep_fresh.json */
export const KEEP_FRESH_EVENT = scheduledJob('keep-fresh');

export class KeepFresh extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: { readonly handler: lambda.Function }) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Every10Minutes', {
      description: 'now-playing: refreshes the Spotify access token before it lapses',
      schedule: events.Schedule.rate(KEEP_FRESH_EVERY),
    });
    // EventBridge retries only a failed hand-over to Lambda; a run that fails is retried by
    // Lambda's own asynchronous retries (function.ts), within minutes of the schedule.
    this.rule.addTarget(new targets.LambdaFunction(props.handler, {
      event: events.RuleTargetInput.fromObject(KEEP_FRESH_EVENT),
      retryAttempts: 0,
    }));
  }
}
