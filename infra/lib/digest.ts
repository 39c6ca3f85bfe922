/** The owner's daily e-mail of waiting suggestions: a schedule invokes the function with the
 *  `daily-digest` job event (which no visitor can send); the function counts what waits
 *  and publishes to the alarm topic. A failed publish fails the run, and Lambda retries it. */
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { scheduledJob } from './scheduled-event';

/** lambda/tests/data/events/scheduled_digest.json */
export const DIGEST_EVENT = scheduledJob('daily-digest');

export interface DailyDigestProps {
  readonly handler: lambda.Function;
  readonly role: iam.Role;
  readonly table: dynamodb.ITable;
  readonly topic: sns.ITopic;
}

export class DailyDigest extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: DailyDigestProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Daily', {
      description: 'now-playing: the daily e-mail of suggestions waiting for the owner',
      schedule: events.Schedule.cron({ minute: '0', hour: '8' }),
    });
    this.rule.addTarget(new targets.LambdaFunction(props.handler, {
      event: events.RuleTargetInput.fromObject(DIGEST_EVENT),
      retryAttempts: 2,
    }));
    props.handler.addEnvironment('DIGEST_TOPIC_ARN', props.topic.topicArn);
    props.topic.grantPublish(props.role);
    // Counting the waiting suggestions reads the table once a day.
    props.table.grant(props.role, 'dynamodb:Scan');
  }
}
