/** Live push: an AppSync Events API that the function publishes changed answers to, and
 *  pages subscribe to with a public API key (`/v1/live` names it); and the queue of the live
 *  runner's ticks, which asks Spotify at the schedule's times while pages watch. */
import { Duration, Expiration, Validations } from 'aws-cdk-lib';
import * as appsync from 'aws-cdk-lib/aws-appsync';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The channel namespace; the function publishes on `/now-playing/current`
 *  (`now_playing::config::DEFAULT_LIVE_CHANNEL`). */
export const LIVE_NAMESPACE = 'now-playing';
export const LIVE_CHANNEL = `/${LIVE_NAMESPACE}/current`;
/** The pages' key lasts this long from each deploy, which renews it (AppSync allows 365). */
export const LIVE_KEY_DAYS = 365;
const DAY = Duration.days(1).toMilliseconds();

export interface LiveProps {
  readonly handler: lambda.Function;
  readonly stackName: string;
}

export class Live extends Construct {
  public readonly api: appsync.EventApi;
  /** The live runner's ticks: each a delayed message back to the function when it is due. */
  public readonly ticks: sqs.Queue;

  constructor(scope: Construct, id: string, props: LiveProps) {
    super(scope, id);
    const pages: appsync.AppSyncAuthProvider = {
      authorizationType: appsync.AppSyncAuthorizationType.API_KEY,
      apiKeyConfig: {
        name: 'Pages',
        description: 'now-playing: pages connect and subscribe with it (public: it is in every page); it cannot publish',
        // From this deploy, to the day: every deploy renews it (a second one the same day
        // changes nothing), and /v1/health warns 14 days before it lapses.
        expires: Expiration.atTimestamp(Math.floor((Date.now() + Duration.days(LIVE_KEY_DAYS).toMilliseconds()) / DAY) * DAY),
      },
    };
    const role: appsync.AppSyncAuthProvider = { authorizationType: appsync.AppSyncAuthorizationType.IAM };
    this.api = new appsync.EventApi(this, 'Api', {
      apiName: `${props.stackName}-live`,
      authorizationConfig: {
        authProviders: [pages, role],
        connectionAuthModeTypes: [appsync.AppSyncAuthorizationType.API_KEY],
        // Only the function's role publishes; visitors only ever subscribe.
        defaultPublishAuthModeTypes: [appsync.AppSyncAuthorizationType.IAM],
        defaultSubscribeAuthModeTypes: [appsync.AppSyncAuthorizationType.API_KEY],
      },
    });
    const namespace = this.api.addChannelNamespace('Answers', { channelNamespaceName: LIVE_NAMESPACE });
    namespace.grantPublish(props.handler);
    const key = this.api.apiKeys.Pages;
    props.handler.addEnvironment('LIVE_URL', `https://${this.api.httpDns}`);
    props.handler.addEnvironment('LIVE_REALTIME_URL', `wss://${this.api.realtimeDns}/event/realtime`);
    props.handler.addEnvironment('LIVE_CHANNEL', LIVE_CHANNEL);
    props.handler.addEnvironment('LIVE_API_KEY', key.attrApiKey);
    props.handler.addEnvironment('LIVE_API_KEY_EXPIRES', String(key.expires));
    // The runner's ticks. A lost one ends the runner and the next page's /v1/live starts
    // another, so no dead-letter queue: it would only hold ticks whose time has passed.
    this.ticks = new sqs.Queue(this, 'Ticks', {
      retentionPeriod: Duration.hours(1),
      visibilityTimeout: Duration.minutes(1),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    Validations.of(this.ticks).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: 'The live runner\'s ticks: a tick that fails ends the runner and the next page\'s visit starts another; a dead-letter queue would only collect ticks whose time has passed.',
    });
    // The function sends its next tick; nothing else of the queue (the event source mapping
    // reads and deletes with its own statement).
    props.handler.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.ticks.queueArn] }));
    props.handler.addEventSource(new SqsEventSource(this.ticks, { batchSize: 1 }));
    props.handler.addEnvironment('LIVE_QUEUE_URL', this.ticks.queueUrl);
  }
}
