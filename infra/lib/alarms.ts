/** Optional alarms, e-mailed: function errors and throttles, API 5XX rate, and the
 *  refresh token nearing the end of its 6-month life. */
import { Aws, Duration } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { scheduledRestEvent } from './scheduled-event';

/** Where the function publishes the days left (Embedded Metric Format, on `/v1/health`). */
export const DAYS_REMAINING_METRIC = { namespace: 'NowPlaying', metricName: 'AuthorizationDaysRemaining' };
export const WARN_DAYS = 14;
/** How often the health check reports, and the alarm's period: several reports a period. */
export const HEALTH_CHECK_EVERY = Duration.hours(1);
export const AUTHORIZATION_PERIOD = Duration.hours(3);

/** The REST event for `GET /v1/health`, so the function's HTTP routing answers it. */
export const SCHEDULED_HEALTH_EVENT = scheduledRestEvent('GET', '/v1/health', 'scheduled-health-check');

export interface AlarmsProps {
  readonly email: string;
  readonly handler: lambda.IFunction;
  readonly api: apigw.RestApi;
  readonly credentialsParameter: string;
}

export class Alarms extends Construct {
  public readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    // Not encrypted with a KMS key: CloudWatch cannot publish to a topic under the aws/sns
    // key, and alarm mails carry no secret (see nag.ts).
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'now-playing alarms', enforceSSL: true });
    this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    const notify = new actions.SnsAction(this.topic);
    const alarms: cloudwatch.Alarm[] = [];
    const alarm = (name: string, description: string, options: cloudwatch.CreateAlarmOptions, metric: cloudwatch.Metric) => {
      const created = metric.createAlarm(this, name, { alarmDescription: description, ...options });
      created.addAlarmAction(notify);
      alarms.push(created);
      return created;
    };

    alarm('Errors', 'The now-playing function failed an invocation.', {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, props.handler.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }));

    alarm('Throttles', 'Lambda throttled the now-playing function.', {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, props.handler.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }));

    alarm('Api5xxRate', 'More than 5% of API requests failed with 5XX.', {
      threshold: 0.05,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, props.api.metricServerError({ period: Duration.minutes(5), statistic: 'Average' }));

    // The health check reports every hour, three reports a period; two low periods of three
    // raise the alarm. Missing data is neither good nor bad ("missing"): a new alarm waits
    // in INSUFFICIENT_DATA for the first report instead of mailing a false "lapses soon",
    // and a check that stops reporting moves the alarm to INSUFFICIENT_DATA, which mails too.
    const expiring = alarm('AuthorizationExpiring', `The Spotify authorization lapses in under ${WARN_DAYS} days: run \`make bootstrap\`. ` +
      'INSUFFICIENT_DATA means the hourly health check stopped reporting: see the function\'s logs.', {
      threshold: WARN_DAYS,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    }, new cloudwatch.Metric({
      ...DAYS_REMAINING_METRIC,
      dimensionsMap: { CredentialsParameter: props.credentialsParameter },
      statistic: 'Minimum',
      period: AUTHORIZATION_PERIOD,
    }));
    expiring.addInsufficientDataAction(notify);

    // With enforceSSL the topic policy holds only the SSL deny, which replaces SNS's default
    // policy: CloudWatch needs its own allow, for these alarms of this account only.
    this.topic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [this.topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnLike: { 'aws:SourceArn': alarms.map((a) => a.alarmArn) },
      },
    }));

    new events.Rule(this, 'HealthCheck', {
      description: 'Calls GET /v1/health every hour so the function publishes the days left',
      schedule: events.Schedule.rate(HEALTH_CHECK_EVERY),
      targets: [new eventTargets.LambdaFunction(props.handler, {
        event: events.RuleTargetInput.fromObject(SCHEDULED_HEALTH_EVENT),
        retryAttempts: 2,
      })],
    });
  }
}
