/** The Rust function, its log group and a role holding exactly what it uses. */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

/** The DynamoDB actions the function calls; the IAM-enforced end-to-end test runs against these. */
export const TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];

export interface NowPlayingFunctionProps {
  /** The zip `make build` writes, deployed as it is. */
  readonly functionZip: string;
  readonly table: dynamodb.ITable;
  readonly credentialsParameter: string;
  readonly privacyParameter: string;
  readonly allowedOrigins: string;
  readonly cacheSeconds: number;
  readonly spotifyCallsPerDay: number;
  readonly spotifyVisitorShare: number;
  readonly spotifyRecentShare: number;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  readonly logRetentionDays: number;
  readonly suggestions: 'off' | 'review' | 'auto';
}

export class NowPlayingFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly logGroup: logs.LogGroup;
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: NowPlayingFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // No managed policy: the function writes only to its own log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'now-playing function: its log group, its token table items, its credentials parameter',
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    // Exactly the calls lambda/src/adapters/dynamodb.rs makes: GetItem (token, answer, art),
    // PutItem (token, art) and UpdateItem (the leases, the shared answer, the backoff).
    // No scans, no deletes: TTL removes old items.
    props.table.grant(this.role, ...TABLE_ACTIONS);
    // Referenced by name: CloudFormation cannot create SecureStrings, `make bootstrap` does.
    const parameter = ssm.StringParameter.fromSecureStringParameterAttributes(this, 'Credentials', {
      parameterName: props.credentialsParameter,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        // Read at cold start; written back when Spotify rotates the refresh token.
        actions: ['ssm:GetParameter', 'ssm:PutParameter'],
        resources: [parameter.parameterArn],
      }),
    );

    // The owner's privacy rules: read, at most once a minute, never written.
    const privacy = ssm.StringParameter.fromStringParameterName(this, 'Privacy', props.privacyParameter);
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: [privacy.parameterArn] }),
    );

    this.function = new lambda.Function(this, 'Function', {
      description: 'GET /v1/current: what the owner is playing on Spotify',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(props.functionZip),
      role: this.role,
      // 256 MB buys twice the CPU of 128 MB for the cold start's TLS handshakes and
      // SDK setup; the warm path needs a few MB. Requests cost the same either way
      // within a few milliseconds, so the faster cold start wins.
      memorySize: props.memorySize,
      // The function bounds each request itself (8 s, 9 s for the card with its art);
      // the timeout is a backstop above that, so settings refuse anything under 10 s.
      timeout: Duration.seconds(props.timeoutSeconds),
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment: {
        STATE_TABLE: props.table.tableName,
        CREDENTIALS_PARAMETER: props.credentialsParameter,
        PRIVACY_PARAMETER: props.privacyParameter,
        ALLOWED_ORIGINS: props.allowedOrigins,
        CACHE_SECONDS: String(props.cacheSeconds),
        SPOTIFY_CALLS_PER_DAY: String(props.spotifyCallsPerDay),
        SPOTIFY_VISITOR_SHARE: String(props.spotifyVisitorShare),
        SPOTIFY_RECENT_SHARE: String(props.spotifyRecentShare),
        SUGGESTIONS: props.suggestions,
      },
    });
  }
}
