/** Every deployment setting, its default, and the checks that run before anything is synthesized. */

export interface Settings {
  readonly stackName: string;
  /** The deployment package `make build` writes. */
  readonly functionZip: string;
  readonly credentialsParameter: string;
  /** The SSM String parameter of the owner's privacy rules (`make privacy`); none, no rules. */
  readonly privacyParameter: string;
  readonly allowedOrigins: string;
  readonly cacheSeconds: number;
  /** Spotify Web API calls per rolling 24 hours (the function's `SPOTIFY_CALLS_PER_DAY`). */
  readonly spotifyCallsPerDay: number;
  /** Percent of them for visitors' searches and suggestions, and for the recent list. */
  readonly spotifyVisitorShare: number;
  readonly spotifyRecentShare: number;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  readonly throttleRate: number;
  readonly throttleBurst: number;
  readonly logRetentionDays: number;
  readonly domainName?: string;
  readonly hostedZoneId?: string;
  readonly hostedZoneName?: string;
  readonly certificateArn?: string;
  readonly alarmEmail?: string;
  /** `create`: the stack sets API Gateway's account-wide logging role (kept on destroy);
   *  `existing`: the account already has one and the stack leaves it alone. */
  readonly accountLoggingRole: 'create' | 'existing';
  /** Visitors' song suggestions: `off` (no routes at all), `review` or `auto`. */
  readonly suggestions: 'off' | 'review' | 'auto';
  /** `on`: a schedule refreshes the access token before it lapses; `off`: visitors do. */
  readonly keepFresh: 'on' | 'off';
  /** `on`: CloudFront in front, the custom domain on it; `off`: the regional API alone. */
  readonly edge: 'on' | 'off';
  /** `on`: an AppSync Events API pushes changed answers to `live` pages ($0 at rest). */
  readonly live: 'on' | 'off';
  /** Raised after the edge secret's value is changed, so that the function and the
   *  distribution both read the new value in the same deploy. */
  readonly edgeSecretVersion: number;
}

/** Each key, its default and what it means; the README's table is this list. */
export const SETTINGS_HELP: ReadonlyArray<[keyof Settings, string, string]> = [
  ['stackName', 'NowPlaying', 'CloudFormation stack name'],
  ['functionZip', '../target/lambda/now-playing/bootstrap.zip', 'the package `make build` writes'],
  ['credentialsParameter', '/now-playing/spotify', 'SSM SecureString written by `make bootstrap`'],
  ['privacyParameter', '/now-playing/privacy', 'SSM String parameter of the privacy rules `make privacy` writes; until it exists, everything is shown'],
  ['allowedOrigins', '*', 'origins that may read the API (`*` or comma-separated)'],
  ['cacheSeconds', '5', 'the shortest an answer is kept; it is kept until it is due, at most 60 s'],
  ['spotifyCallsPerDay', '1000', 'Spotify Web API calls per rolling 24 hours, every share included (100 to 1000000); Spotify refuses development-mode apps after about 1,100'],
  ['spotifyVisitorShare', '20', 'percent of spotifyCallsPerDay for visitors\' searches and suggestions'],
  ['spotifyRecentShare', '10', 'percent of spotifyCallsPerDay for the recently played list; with spotifyVisitorShare at most 50'],
  ['memorySize', '256', 'function memory in MB (128 to 10240)'],
  ['timeoutSeconds', '10', 'function timeout in seconds (10 to 28: above the function\'s own 9 s deadline, under API Gateway\'s 29 s)'],
  ['throttleRate', '20', 'stage steady-state requests per second'],
  ['throttleBurst', '40', 'stage burst, at least throttleRate'],
  ['logRetentionDays', '30', 'days the function and access logs are kept'],
  ['domainName', '(none)', 'custom domain, e.g. np.example.com'],
  ['hostedZoneId', '(none)', 'Route 53 zone for domainName: certificate and alias record are created'],
  ['hostedZoneName', '(domain\'s parent)', 'that zone\'s name, e.g. example.com'],
  ['certificateArn', '(none)', 'existing ACM certificate for domainName when DNS is elsewhere (in us-east-1 with the edge on, else in the stack\'s region)'],
  ['alarmEmail', '(none)', 'turns on alarms, sent to this address'],
  ['suggestions', 'off', 'visitors suggest songs: `review` (the owner decides with `make suggestions`) or `auto` (added at once); needs `make bootstrap ARGS="--suggestions"`'],
  ['keepFresh', 'on', '`on`: every 10 minutes a schedule refreshes the access token before it lapses, so no visitor waits for it; `off` leaves that to visitors'],
  ['edge', 'on', '`on`: CloudFront serves the answers from its edge and carries the custom domain (certificate in us-east-1); `off`: the regional API alone'],
  ['live', 'on', '`on`: an AppSync Events API pushes each changed answer to pages with `live` (nothing at rest; the pages\' key is renewed by every deploy, for 365 days); `off`: they poll'],
  ['edgeSecretVersion', '1', 'raise it after changing the edge secret\'s value (with suggestions on), so the function and the distribution both take the new value in one deploy'],
  ['accountLoggingRole', 'create', '`create` sets API Gateway\'s account-wide logging role (kept on destroy); `existing` when the account already has one'],
];

export class SettingsError extends Error {
  constructor(key: string, problem: string) {
    super(`setting ${key}: ${problem}`);
    this.name = 'SettingsError';
  }
}

const DOMAIN = /^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$/;
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
const RETENTIONS = new Set(LOG_RETENTION_DAYS);

/** The region an ACM certificate ARN names. */
export function certificateRegion(arn: string): string {
  return arn.split(':')[3];
}

/** Reads settings through `get` (CDK context in the app, a map in tests) and validates them.
 *  `region` is the deployment's region when known (CDK_DEFAULT_REGION from the CLI). */
export function loadSettings(get: (key: string) => unknown, region?: string): Settings {
  const text = (key: keyof Settings): string | undefined => {
    const value = get(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new SettingsError(key, `expected a string or a number, got ${JSON.stringify(value)}`);
    }
    return String(value).trim();
  };
  const int = (key: keyof Settings, fallback: number, min: number, max: number): number => {
    const raw = text(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new SettingsError(key, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };

  const edge = text('edge') ?? 'on';
  if (edge !== 'on' && edge !== 'off') {
    throw new SettingsError('edge', `expected on or off, got ${JSON.stringify(edge)}`);
  }
  const domainName = text('domainName')?.toLowerCase();
  if (domainName !== undefined && !DOMAIN.test(domainName)) {
    throw new SettingsError('domainName', `${JSON.stringify(domainName)} is not a domain name such as np.example.com`);
  }
  const hostedZoneId = text('hostedZoneId');
  if (hostedZoneId !== undefined) {
    if (domainName === undefined) throw new SettingsError('hostedZoneId', 'needs domainName, the name to create in that zone');
    if (!/^Z[A-Z0-9]{4,32}$/.test(hostedZoneId)) {
      throw new SettingsError('hostedZoneId', `${JSON.stringify(hostedZoneId)} is not a Route 53 zone id such as Z0123456789ABCDEFGHIJ`);
    }
  }
  let hostedZoneName = text('hostedZoneName')?.toLowerCase().replace(/\.$/, '');
  if (hostedZoneName !== undefined && hostedZoneId === undefined) {
    throw new SettingsError('hostedZoneName', 'needs hostedZoneId');
  }
  if (hostedZoneId !== undefined && domainName !== undefined) {
    hostedZoneName ??= domainName.split('.').slice(1).join('.');
    if (!DOMAIN.test(hostedZoneName) || !(domainName === hostedZoneName || domainName.endsWith(`.${hostedZoneName}`))) {
      throw new SettingsError('hostedZoneName', `${domainName} is not inside the zone ${JSON.stringify(hostedZoneName)}`);
    }
  }
  const certificateArn = text('certificateArn');
  if (certificateArn !== undefined) {
    if (domainName === undefined) throw new SettingsError('certificateArn', 'needs domainName, the name the certificate is for');
    if (!/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/.test(certificateArn)) {
      throw new SettingsError('certificateArn', `${JSON.stringify(certificateArn)} is not an ACM certificate ARN`);
    }
    // CloudFront takes certificates from us-east-1 only, a regional custom domain from its
    // own region only; CloudFormation would find out late, after the function and the API.
    if (edge === 'on' && certificateRegion(certificateArn) !== 'us-east-1') {
      throw new SettingsError(
        'certificateArn',
        `the certificate is in ${certificateRegion(certificateArn)} but CloudFront takes certificates from us-east-1 only: ` +
          'request or import one for the domain in us-east-1 in ACM (or deploy with -c edge=off for a regional domain)',
      );
    }
    if (edge === 'off' && region !== undefined && certificateRegion(certificateArn) !== region) {
      throw new SettingsError(
        'certificateArn',
        `the certificate is in ${certificateRegion(certificateArn)} but the stack deploys to ${region}: ` +
          `a regional custom domain needs a certificate in ${region} (request or import one there in ACM)`,
      );
    }
  }
  if (domainName !== undefined && hostedZoneId === undefined && certificateArn === undefined) {
    throw new SettingsError('domainName', 'needs hostedZoneId (Route 53 DNS) or certificateArn (DNS elsewhere)');
  }

  const throttleRate = int('throttleRate', 20, 1, 10000);
  const throttleBurst = int('throttleBurst', Math.max(40, throttleRate), 1, 5000);
  if (throttleBurst < throttleRate) {
    throw new SettingsError('throttleBurst', `${throttleBurst} is below throttleRate ${throttleRate}: the rate could never be reached`);
  }
  const logRetentionDays = int('logRetentionDays', 30, 1, 3653);
  if (!RETENTIONS.has(logRetentionDays)) {
    throw new SettingsError('logRetentionDays', `CloudWatch keeps logs for one of ${LOG_RETENTION_DAYS.join(', ')} days`);
  }

  const allowedOrigins = text('allowedOrigins') ?? '*';
  if (allowedOrigins !== '*') {
    for (const origin of allowedOrigins.split(',').map((o) => o.trim())) {
      if (!/^https?:\/\/[^/?#\s*]+$/.test(origin)) {
        throw new SettingsError('allowedOrigins', `${JSON.stringify(origin)} is not an origin such as https://example.com`);
      }
    }
  }
  const alarmEmail = text('alarmEmail');
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) {
    throw new SettingsError('alarmEmail', `${JSON.stringify(alarmEmail)} is not an e-mail address`);
  }
  // SSM: a name with a slash is a path and must start with one; no empty level; at most
  // 15 levels; no name may begin with aws or ssm.
  const parameterName = (key: 'credentialsParameter' | 'privacyParameter', fallback: string): string => {
    const name = text(key) ?? fallback;
    if (!/^([A-Za-z0-9_.-]+|(\/[A-Za-z0-9_.-]+)+)$/.test(name) || name.split('/').length > 16 || /^\/?(aws|ssm)/i.test(name)) {
      throw new SettingsError(
        key,
        `${JSON.stringify(name)} is not an SSM parameter name: letters, digits and _ . -, ` +
          `either one name or a path starting with / such as ${fallback}`,
      );
    }
    return name;
  };
  const credentialsParameter = parameterName('credentialsParameter', '/now-playing/spotify');
  const privacyParameter = parameterName('privacyParameter', '/now-playing/privacy');
  const accountLoggingRole = text('accountLoggingRole') ?? 'create';
  if (accountLoggingRole !== 'create' && accountLoggingRole !== 'existing') {
    throw new SettingsError('accountLoggingRole', `expected create or existing, got ${JSON.stringify(accountLoggingRole)}`);
  }
  const suggestions = text('suggestions') ?? 'off';
  if (suggestions !== 'off' && suggestions !== 'review' && suggestions !== 'auto') {
    throw new SettingsError('suggestions', `expected off, review or auto, got ${JSON.stringify(suggestions)}`);
  }
  const live = text('live') ?? 'on';
  if (live !== 'on' && live !== 'off') {
    throw new SettingsError('live', `expected on or off, got ${JSON.stringify(live)}`);
  }
  const keepFresh = text('keepFresh') ?? 'on';
  if (keepFresh !== 'on' && keepFresh !== 'off') {
    throw new SettingsError('keepFresh', `expected on or off, got ${JSON.stringify(keepFresh)}`);
  }
  const spotifyCallsPerDay = int('spotifyCallsPerDay', 1000, 100, 1_000_000);
  const spotifyVisitorShare = int('spotifyVisitorShare', 20, 0, 50);
  const spotifyRecentShare = int('spotifyRecentShare', 10, 0, 50);
  if (spotifyVisitorShare + spotifyRecentShare > 50) {
    throw new SettingsError(
      'spotifyVisitorShare',
      `with spotifyRecentShare it takes ${spotifyVisitorShare + spotifyRecentShare}% of spotifyCallsPerDay; ` +
        'together they may take at most 50%, so that /v1/current keeps at least half',
    );
  }
  const stackName = text('stackName') ?? 'NowPlaying';
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
    throw new SettingsError('stackName', `${JSON.stringify(stackName)} is not a CloudFormation stack name`);
  }

  return {
    stackName,
    functionZip: text('functionZip') ?? '../target/lambda/now-playing/bootstrap.zip',
    credentialsParameter,
    privacyParameter,
    allowedOrigins,
    cacheSeconds: int('cacheSeconds', 5, 0, 3600),
    spotifyCallsPerDay,
    spotifyVisitorShare,
    spotifyRecentShare,
    memorySize: int('memorySize', 256, 128, 10240),
    timeoutSeconds: int('timeoutSeconds', 10, 10, 28),
    throttleRate,
    throttleBurst,
    logRetentionDays,
    domainName,
    hostedZoneId,
    hostedZoneName,
    certificateArn,
    alarmEmail,
    accountLoggingRole,
    suggestions,
    keepFresh,
    live,
    edgeSecretVersion: int('edgeSecretVersion', 1, 1, 1_000_000),
    edge,
  };
}
