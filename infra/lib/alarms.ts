/** Optional alarms, e-mailed: function errors and throttles, API 5XX rate, the refresh
 *  token nearing the end of its 6-month life, and Spotify's quota: the budget 80 % spent,
 *  or Spotify refusing with QUOTA_EXCEEDED. */
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
import { scheduledJob } from './scheduled-event';

/** Where the function publishes the days left (Embedded Metric Format, on `/v1/health`). */
export const DAYS_REMAINING_METRIC = { namespace: 'NowPlaying', metricName: 'AuthorizationDaysRemaining' };
export const WARN_DAYS = 14;
/** The Web API calls of the last 24 hours, and 1 while Spotify refuses with QUOTA_EXCEEDED
 *  (the same health check's line). */
export const SPOTIFY_CALLS_METRIC = { namespace: 'NowPlaying', metricName: 'SpotifyCallsLast24h' };
export const QUOTA_REFUSED_METRIC = { namespace: 'NowPlaying', metricName: 'SpotifyQuotaRefused' };
/** The share of spotifyCallsPerDay, spent in 24 hours, that the budget alarm reports. */
export const BUDGET_WARN_SHARE = 0.8;
/** How often the health check reports, and the alarm's period: several reports a period. */
export const HEALTH_CHECK_EVERY = Duration.hours(1);
export const AUTHORIZATION_PERIOD = Duration.hours(3);

/** The `health-check` job: reads the credentials afresh and publishes the days left
 *  (lambda/tests/data/events/scheduled_health.json). */
export const SCHEDULED_HEALTH_EVENT = scheduledJob('health-check');

export interface AlarmsProps {
  readonly email: string;
  readonly handler: lambda.IFunction;
  readonly api: apigw.RestApi;
  readonly credentialsParameter: string;
  /** The stage's steady rate: the request-count alarm watches for traffic held near it. */
  readonly throttleRate: number;
  /** The budget of Spotify calls a day the budget alarm measures against. */
  readonly spotifyCallsPerDay: number;
}

/** The 5XX rate alarm's smallest volume: fewer requests in 5 minutes are no rate to page on. */
export const MIN_REQUESTS_FOR_RATE = 20;
/** Client errors in 5 minutes (429s from the throttles among them) that mean abuse, not typos. */
export const CLIENT_ERRORS_PER_5_MIN = 1000;
/** The share of the stage's rate, held for 5 minutes, that the request-count alarm reports. */
export const BUSY_SHARE = 0.5;

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
    const alarm = (name: string, description: string, options: cloudwatch.CreateAlarmOptions, metric: cloudwatch.Metric | cloudwatch.MathExpression) => {
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

    // A rate, but only over a volume worth paging on: one error in two requests at night is not.
    const fiveMinutes = { period: Duration.minutes(5), statistic: 'Sum' };
    alarm('Api5xxRate', `More than 5% of at least ${MIN_REQUESTS_FOR_RATE} API requests in 5 minutes failed with 5XX.`, {
      threshold: 0.05,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, new cloudwatch.MathExpression({
      expression: `IF(requests >= ${MIN_REQUESTS_FOR_RATE}, errors / requests, 0)`,
      usingMetrics: { errors: props.api.metricServerError(fiveMinutes), requests: props.api.metricCount(fiveMinutes) },
      period: Duration.minutes(5),
      label: '5XX rate',
    }));

    alarm('Api4xxVolume', `More than ${CLIENT_ERRORS_PER_5_MIN} API requests in 5 minutes were refused with 4XX ` +
      '(429s from the throttles among them): a client is hammering the API.', {
      threshold: CLIENT_ERRORS_PER_5_MIN,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, props.api.metricClientError(fiveMinutes));

    // Requests are what costs: traffic held at half the stage's rate is about
    // ${BUSY_SHARE} * rate * 86,400 requests a day, at $3.50 a million.
    const busy = Math.round(props.throttleRate * 300 * BUSY_SHARE);
    alarm('ApiRequestVolume', `More than ${busy} API requests in 5 minutes, twice in 15 minutes: ` +
      'traffic near the stage\'s throttle, which costs money whether it is answered or refused.', {
      threshold: busy,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, props.api.metricCount(fiveMinutes));

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

    // The hourly health check reports the calls of the last 24 hours and whether Spotify
    // refuses; one report over the line is enough to mail.
    const hourly = { dimensionsMap: { CredentialsParameter: props.credentialsParameter }, statistic: 'Maximum', period: HEALTH_CHECK_EVERY };
    const warnAt = Math.ceil(props.spotifyCallsPerDay * BUDGET_WARN_SHARE);
    alarm('SpotifyBudget', `The function spent ${warnAt} or more of its ${props.spotifyCallsPerDay} Spotify calls in 24 hours ` +
      '(spotifyCallsPerDay): answers slow their checks, and once a share is spent it is served stale. ' +
      'See /v1/health for the shares.', {
      threshold: warnAt,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, new cloudwatch.Metric({ ...SPOTIFY_CALLS_METRIC, ...hourly }));
    alarm('SpotifyQuotaRefused', 'Spotify refused the app with QUOTA_EXCEEDED: its daily quota, shared by every app ' +
      'of the developer account, is spent. Answers are served stale until the refusal ends (/v1/health says when); ' +
      'lower spotifyCallsPerDay, or look for another app of the account spending the quota.', {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, new cloudwatch.Metric({ ...QUOTA_REFUSED_METRIC, ...hourly }));

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
      description: 'Runs the health-check job every hour: the credentials read afresh, the days left published',
      schedule: events.Schedule.rate(HEALTH_CHECK_EVERY),
      targets: [new eventTargets.LambdaFunction(props.handler, {
        event: events.RuleTargetInput.fromObject(SCHEDULED_HEALTH_EVENT),
        retryAttempts: 2,
      })],
    });
  }
}
