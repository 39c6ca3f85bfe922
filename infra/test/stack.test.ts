import * as fs from 'fs';
import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { SynthesisMessageLevel } from 'aws-cdk-lib/cx-api';
import {
  AUTHORIZATION_PERIOD, CLIENT_ERRORS_PER_5_MIN, HEALTH_CHECK_EVERY, MIN_REQUESTS_FOR_RATE, QUOTA_REFUSED_METRIC, SCHEDULED_HEALTH_EVENT,
  SPOTIFY_CALLS_METRIC, WARN_DAYS,
} from '../lib/alarms';
import { ROUTE_TABLE, ROUTES, SUGGESTION_ROUTES, SUGGESTION_THROTTLING } from '../lib/api';
import { DIGEST_EVENT } from '../lib/digest';
import { KEEP_FRESH_EVENT, KEEP_FRESH_EVERY } from '../lib/keep-fresh';
import { loadSettings, SETTINGS_HELP } from '../lib/settings';
import { ACCOUNT, ALARMS, build, CERTIFICATE_ARN, EXTERNAL_DNS, NO_EDGE, ROUTE53, synth, synthAll } from './helpers';

describe('the default stack', () => {
  const template = synth({}, 'default');

  test('the token table has the shared schema, on demand, with TTL and encryption, deleted with the stack', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        SSESpecification: { SSEEnabled: true },
      },
      DeletionPolicy: 'Delete',
    });
  });

  test('the function is the Rust binary on provided.al2023 arm64 with JSON logs', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Architectures: ['arm64'],
      Handler: 'bootstrap',
      MemorySize: 256,
      Timeout: 10,
      // INFO: the hourly days-left metric line has no level, and Lambda files it as INFO.
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON', LogGroup: Match.anyValue(), ApplicationLogLevel: 'INFO' }),
      Environment: {
        Variables: {
          STATE_TABLE: { Ref: Match.stringLikeRegexp('^TokensTable') },
          CREDENTIALS_PARAMETER: '/now-playing/spotify',
          PRIVACY_PARAMETER: '/now-playing/privacy',
          ALLOWED_ORIGINS: '*',
          CACHE_SECONDS: '5',
          SPOTIFY_CALLS_PER_DAY: '1000',
          SPOTIFY_VISITOR_SHARE: '20',
          SPOTIFY_RECENT_SHARE: '10',
          SUGGESTIONS: 'off',
          PUBLIC_URL: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^EdgeDistribution'), 'DomainName'] }]] },
        },
      },
    });
  });

  test('logs are kept for the set days, with no log-retention custom resource', () => {
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.resourceCountIs('Custom::LogRetention', 0);
  });

  test('the function role has no managed policy and exactly its four statements', () => {
    const roles = template.findResources('AWS::IAM::Role', {
      Properties: { AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })] }) },
    });
    expect(Object.keys(roles)).toHaveLength(1);
    const [roleId] = Object.keys(roles);
    expect(roles[roleId].Properties.ManagedPolicyArns).toBeUndefined();
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: roleId }] },
    });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toEqual([
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^NowPlayingLogs/), 'Arn'] } },
      { Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], Effect: 'Allow', Resource: [{ 'Fn::GetAtt': [expect.stringMatching(/^TokensTable/), 'Arn'] }] },
      {
        Action: ['ssm:GetParameter', 'ssm:PutParameter'],
        Effect: 'Allow',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':parameter/now-playing/spotify']] },
      },
      {
        // The privacy rules: read only, that one parameter.
        Action: 'ssm:GetParameter',
        Effect: 'Allow',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':parameter/now-playing/privacy']] },
      },
      {
        // Live push: publishing on its one namespace, nothing else of AppSync.
        Action: 'appsync:EventPublish',
        Effect: 'Allow',
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':appsync:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':apis/',
            { 'Fn::GetAtt': [expect.stringMatching(/^LiveApi/), 'ApiId'] }, '/channelNamespace/now-playing']],
        },
      },
      // The live runner's next tick, and nothing else of its queue.
      { Action: 'sqs:SendMessage', Effect: 'Allow', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^LiveTicks/), 'Arn'] } },
      {
        // The queue's event source mapping, as Lambda needs it.
        Action: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^LiveTicks/), 'Arn'] },
      },
    ]);
  });

  test('live push: pages connect and subscribe with a key renewed by each deploy, only the function publishes', () => {
    template.hasResourceProperties('AWS::AppSync::Api', {
      Name: 'NowPlaying-live',
      EventConfig: {
        AuthProviders: [{ AuthType: 'API_KEY' }, { AuthType: 'AWS_IAM' }],
        ConnectionAuthModes: [{ AuthType: 'API_KEY' }],
        DefaultPublishAuthModes: [{ AuthType: 'AWS_IAM' }],
        DefaultSubscribeAuthModes: [{ AuthType: 'API_KEY' }],
      },
    });
    template.hasResourceProperties('AWS::AppSync::ChannelNamespace', { Name: 'now-playing' });
    const [key] = Object.values(template.findResources('AWS::AppSync::ApiKey'));
    const days = (key.Properties.Expires * 1000 - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(363);
    expect(days).toBeLessThanOrEqual(365);
    expect(key.Properties.Expires % 86_400).toBe(0);
    const env = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Environment?.Variables?.LIVE_URL)
      ?.Properties.Environment.Variables;
    expect(env.LIVE_CHANNEL).toBe('/now-playing/current');
    expect(env.LIVE_API_KEY_EXPIRES).toBe(String(key.Properties.Expires));
    expect(JSON.stringify(env.LIVE_API_KEY)).toMatch(/ApiKey/);
    expect(JSON.stringify(env.LIVE_QUEUE_URL)).toMatch(/LiveTicks/);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 1 });
    template.hasResourceProperties('AWS::SQS::Queue', { MessageRetentionPeriod: 3600, SqsManagedSseEnabled: true });
    expect(JSON.stringify(env.LIVE_REALTIME_URL)).toMatch(/wss:\/\/.*Realtime.*\/event\/realtime/);
    const off = synth({ live: 'off' });
    off.resourceCountIs('AWS::AppSync::Api', 0);
    off.resourceCountIs('AWS::SQS::Queue', 0);
    expect(JSON.stringify(off.toJSON())).not.toMatch(/LIVE_|appsync:|sqs:/);
    expect(() => synth({ live: 'maybe' })).toThrow(/setting live: expected on or off/);
  });

  test('no IAM statement anywhere grants a * resource', () => {
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        expect(JSON.stringify(statement.Resource)).not.toMatch(/"\*"/);
      }
    }
  });

  test('a rule every 10 minutes asks the function to keep the token fresh, with the REST event it parses', () => {
    const fixture = path.join(__dirname, '..', '..', 'lambda', 'tests', 'data', 'events', 'scheduled_keep_fresh.json');
    expect(JSON.parse(fs.readFileSync(fixture, 'utf8'))).toEqual(KEEP_FRESH_EVENT);
    // Under the 15 minutes ahead the function refreshes (KEEP_FRESH_AHEAD in domain/token.rs).
    expect(KEEP_FRESH_EVERY.toMinutes()).toBeLessThan(15);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(10 minutes)',
      Targets: [Match.objectLike({ Input: JSON.stringify(KEEP_FRESH_EVENT), RetryPolicy: { MaximumRetryAttempts: 0 } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^KeepFresh'), 'Arn'] },
    });
    // Not a route: the REST API has no such resource.
    const parts = Object.values(template.findResources('AWS::ApiGateway::Resource')).map((r) => r.Properties.PathPart);
    expect(parts).not.toContain('keep-fresh');
    expect(parts).not.toContain('internal');
  });

  test('keepFresh=off has no schedule', () => {
    const off = synth({ keepFresh: 'off' }, 'no-keep-fresh');
    expect(JSON.stringify(off.toJSON())).not.toMatch(/keep-fresh/);
    expect(() => synth({ keepFresh: 'sometimes' }, 'bad-keep-fresh')).toThrow(/keepFresh: expected on or off/);
  });

  test('the state table keeps the logical id it was first deployed with', () => {
    // A new logical id replaces the table on the next deploy and loses what it holds.
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual(['TokensTableFC8D39D1']);
  });

  test('the credentials parameter is referenced, never created', () => {
    template.resourceCountIs('AWS::SSM::Parameter', 0);
  });

  test('a regional REST API named after the stack sends every method on each path to the function', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { Name: 'NowPlaying', EndpointConfiguration: { Types: ['REGIONAL'] } });
    expect(ROUTES).toEqual(['/', '/v1/current', '/v1/health', '/v1/current.svg', '/v1/open', '/v1/recent', '/v1/recent.svg', '/v1/art', '/v1/widget.js', '/v1/widget-suggest.js', '/v1/live', '/v1/widget-live.js']);
    const restApi = Object.keys(template.findResources('AWS::ApiGateway::RestApi'))[0];
    for (const route of ROUTES) {
      const part = route.split('/').pop();
      let resourceId: unknown;
      if (part === '') {
        resourceId = { 'Fn::GetAtt': [restApi, 'RootResourceId'] };
      } else {
        const resources = template.findResources('AWS::ApiGateway::Resource', { Properties: { PathPart: part } });
        expect(Object.keys(resources)).toHaveLength(1);
        resourceId = { Ref: Object.keys(resources)[0] };
      }
      // ANY: HEAD, the preflight and 405 for POST are the function's answers, as in make dev.
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'ANY',
        ResourceId: resourceId,
        AuthorizationType: 'NONE',
        Integration: Match.objectLike({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' }),
        RequestValidatorId: Match.anyValue(),
      });
    }
    // One method per route and nothing the gateway answers itself (no MOCK preflights).
    template.resourceCountIs('AWS::ApiGateway::Method', ROUTES.length);
  });

  test('the API has exactly the function\'s routes that are always on, and no other path', () => {
    const always = ROUTE_TABLE.filter((r) => r.group === 'always').map((r) => r.path);
    expect(new Set(routesIn(template))).toEqual(new Set(always));
    expect(routesIn(template)).toHaveLength(always.length);
  });

  test('no execution logs (their log group would outlive the stack) and no per-method metrics', () => {
    const [stage] = Object.values(template.findResources('AWS::ApiGateway::Stage'));
    for (const setting of stage.Properties.MethodSettings ?? []) {
      expect(setting.LoggingLevel ?? 'OFF').toBe('OFF');
      expect(setting.DataTraceEnabled ?? false).toBe(false);
      expect(setting.MetricsEnabled ?? false).toBe(false);
    }
  });

  test('sets the account-wide logging role access logs need, and keeps it on destroy', () => {
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
    template.hasResource('AWS::IAM::Role', {
      Properties: { AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'apigateway.amazonaws.com' } })] }) },
      DeletionPolicy: 'Retain',
    });
  });

  test('what destroy removes is deleted with the stack; only the account\'s logging role and setting are kept', () => {
    for (const type of ['AWS::Logs::LogGroup', 'AWS::DynamoDB::Table', 'AWS::Lambda::Function', 'AWS::ApiGateway::RestApi']) {
      for (const resource of Object.values(template.findResources(type))) {
        expect(resource.DeletionPolicy ?? 'Delete').toBe('Delete');
      }
    }
    const kept = Object.entries(template.toJSON().Resources as Record<string, { Type: string; DeletionPolicy?: string }>)
      .filter(([, r]) => r.DeletionPolicy === 'Retain')
      .map(([, r]) => r.Type)
      .sort();
    expect(kept).toEqual(['AWS::ApiGateway::Account', 'AWS::IAM::Role']);
  });

  test('the stage throttles and writes JSON access logs', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'live',
      MethodSettings: Match.arrayWith([Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40, HttpMethod: '*', ResourcePath: '/*' })]),
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"') },
    });
  });

  test('the access log keeps no visitor address, caller or user', () => {
    const [stage] = Object.values(template.findResources('AWS::ApiGateway::Stage'));
    const format = stage.Properties.AccessLogSetting.Format as string;
    expect(format).toMatch(/"status":"\$context.status"/);
    expect(format).not.toMatch(/sourceIp|identity\.caller|identity\.user|\$context\.identity/);
  });

  test('a throttled client is told when to come back', () => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'THROTTLED',
      ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Retry-After': "'1'" }),
    });
  });

  test('the console\'s test invocations get no permissions of their own', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
    const fromApi = permissions.filter((p) => p.Properties.Principal === 'apigateway.amazonaws.com');
    expect(fromApi.length).toBeGreaterThan(0);
    for (const p of fromApi) {
      expect(JSON.stringify(p.Properties.SourceArn)).not.toMatch(/test-invoke-stage/);
    }
  });

  test('errors API Gateway answers itself carry CORS and the JSON error shape', () => {
    const expected: Array<[string, string, string | undefined]> = [
      ['THROTTLED', 'rate_limited', undefined],
      ['MISSING_AUTHENTICATION_TOKEN', 'not_found', '404'],
      ['DEFAULT_4XX', 'bad_request', undefined],
      ['DEFAULT_5XX', 'internal', undefined],
    ];
    for (const [type, code, status] of expected) {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        ...(status ? { StatusCode: status } : {}),
        ResponseParameters: {
          'gatewayresponse.header.Access-Control-Allow-Origin': "'*'",
          'gatewayresponse.header.Cache-Control': "'private, no-store'",
        },
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp(`"code": "${code}"`) },
      });
    }
  });

  test('deploys the zip make build writes, as it is', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Code: { S3Bucket: Match.anyValue(), S3Key: Match.stringLikeRegexp('^[0-9a-f]{64}\\.zip$') },
    });
  });

  test('outputs the endpoint, a curl line and the log group', () => {
    template.hasOutput('LogGroupName', { Value: { Ref: Match.stringLikeRegexp('^NowPlayingLogs') } });
    template.hasOutput('EndpointUrl', { Value: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('/v1/current$')])] } });
    template.hasOutput('TryIt', { Value: { 'Fn::Join': ['', Match.arrayWith(['curl -s https://'])] } });
  });

  test('suggestions are off: no suggestion route, no model, and the function is told so', () => {
    for (const part of ['search', 'suggestions', 'challenge']) {
      expect(Object.keys(template.findResources('AWS::ApiGateway::Resource', { Properties: { PathPart: part } }))).toHaveLength(0);
    }
    template.resourceCountIs('AWS::ApiGateway::Model', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SUGGESTIONS: 'off' }) },
    });
  });

  test('has no domain and no alarms unless asked', () => {
    template.resourceCountIs('AWS::ApiGateway::DomainName', 0);
    template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });

  test('holds no secret and no account-specific literal', () => {
    const text = JSON.stringify(template.toJSON());
    expect(text).not.toMatch(/client_secret|refresh_token|access_token|SPOTIFY_CLIENT|SECRET/i);
    expect(text).not.toMatch(/(?<![0-9a-f])\d{12}(?![0-9a-f])/);
    expect(text).not.toMatch(/arn:aws:[a-z0-9-]+:[a-z0-9-]+:\d{12}/);
  });
});

describe('suggestions in review', () => {
  const template = synth({ suggestions: 'review' }, 'suggestions');

  test('adds the three routes to the function, with POST checked against the body model', () => {
    for (const route of SUGGESTION_ROUTES) {
      const part = route.split('/').pop();
      expect(Object.keys(template.findResources('AWS::ApiGateway::Resource', { Properties: { PathPart: part } }))).toHaveLength(1);
    }
    // ANY on each route; POST with the body model; GET beside ANY on the two throttled GET routes.
    template.resourceCountIs('AWS::ApiGateway::Method', ROUTES.length + SUGGESTION_ROUTES.length + 3);
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      RequestModels: { 'application/json': Match.anyValue() },
      RequestValidatorId: Match.anyValue(),
      Integration: Match.objectLike({ Type: 'AWS_PROXY' }),
    });
    template.hasResourceProperties('AWS::ApiGateway::Model', {
      ContentType: 'application/json',
      Schema: Match.objectLike({ required: ['track'], additionalProperties: false }),
    });
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true });
  });

  test('throttles each suggestion route far below the stage', () => {
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0] as { Properties: { MethodSettings: Array<Record<string, unknown>> } };
    for (const [path, [rate, burst]] of Object.entries(SUGGESTION_THROTTLING)) {
      const [resource, method] = [path.slice(0, path.lastIndexOf('/')), path.slice(path.lastIndexOf('/') + 1)];
      expect(stage.Properties.MethodSettings).toContainEqual(expect.objectContaining({
        ResourcePath: `/${resource.replace(/\//g, '~1')}`,
        HttpMethod: method,
        ThrottlingRateLimit: rate,
        ThrottlingBurstLimit: burst,
      }));
      expect(rate).toBeLessThan(20);
    }
  });

  test('the API has exactly the routes of the function\'s table, each sending every method to it', () => {
    expect(new Set(routesIn(template))).toEqual(new Set(ROUTE_TABLE.map((r) => r.path)));
  });

  test('every throttling key names a method its resource has', () => {
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method'));
    // The resource's full path, from its PathPart and its parents'.
    const pathOf = (id: string): string => {
      const r = resources[id];
      if (!r) return '';
      const parent = r.Properties.ParentId as { Ref?: string };
      return `${parent.Ref ? pathOf(parent.Ref) : ''}/${r.Properties.PathPart}`;
    };
    const existing = new Set(methods.map((m) => `${pathOf((m.Properties.ResourceId as { Ref: string }).Ref)}/${m.Properties.HttpMethod}`));
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0] as { Properties: { MethodSettings: Array<{ ResourcePath: string; HttpMethod: string }> } };
    const keyed = stage.Properties.MethodSettings.filter((m) => m.ResourcePath !== '/*');
    expect(keyed).toHaveLength(Object.keys(SUGGESTION_THROTTLING).length);
    for (const setting of keyed) {
      expect(existing).toContain(`${setting.ResourcePath.slice(1).replace(/~1/g, '/')}/${setting.HttpMethod}`);
    }
  });

  test('tells the function the mode and grants no new table action', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SUGGESTIONS: 'review' }) },
    });
    const text = JSON.stringify(template.toJSON());
    expect(text).not.toMatch(/dynamodb:(Scan|Query|DeleteItem|BatchWriteItem)/);
  });

  test('outputs the table make suggestions works on', () => {
    template.hasOutput('TableName', { Value: { Ref: Match.stringLikeRegexp('^Tokens') } });
  });

  test('refuses a mode it does not know', () => {
    expect(() => build({ suggestions: 'yes' })).toThrow(/setting suggestions: expected off, review or auto/);
  });
});

describe('with the edge off, a custom domain in a Route 53 zone', () => {
  const template = synth({ ...ROUTE53, ...NO_EDGE }, 'route53-domain-no-edge');

  test('creates a DNS-validated certificate, a regional TLS 1.2 domain, its mapping and an alias', () => {
    template.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'np.example.com',
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: 'np.example.com', HostedZoneId: 'Z0123456789ABCDEFGHIJ' }],
    });
    template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: 'np.example.com',
      EndpointConfiguration: { Types: ['REGIONAL'] },
      SecurityPolicy: 'TLS_1_2',
      RegionalCertificateArn: { Ref: Match.stringLikeRegexp('Certificate') },
    });
    template.resourceCountIs('AWS::ApiGateway::BasePathMapping', 1);
    for (const type of ['A', 'AAAA']) {
      template.hasResourceProperties('AWS::Route53::RecordSet', {
        Name: 'np.example.com.',
        Type: type,
        HostedZoneId: 'Z0123456789ABCDEFGHIJ',
        AliasTarget: Match.objectLike({ DNSName: { 'Fn::GetAtt': [Match.anyValue(), 'RegionalDomainName'] } }),
      });
    }
  });

  test('the endpoint output is the custom domain', () => {
    template.hasOutput('EndpointUrl', { Value: 'https://np.example.com/v1/current' });
    expect(template.findOutputs('CnameTarget')).toEqual({});
  });
});

describe('with the edge off, a custom domain with DNS elsewhere', () => {
  const template = synth({ ...EXTERNAL_DNS, ...NO_EDGE }, 'external-dns-domain-no-edge');

  test('uses the given certificate, creates no record and outputs the CNAME target', () => {
    template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
    template.hasResourceProperties('AWS::ApiGateway::DomainName', { RegionalCertificateArn: CERTIFICATE_ARN });
    template.hasOutput('CnameTarget', { Value: { 'Fn::GetAtt': [Match.anyValue(), 'RegionalDomainName'] } });
  });

  test('the only account number in the template is the one in the given certificate ARN', () => {
    const numbers = JSON.stringify(template.toJSON()).match(/(?<![0-9a-f])\d{12}(?![0-9a-f])/g) ?? [];
    expect(new Set(numbers)).toEqual(new Set(['111122223333']));
  });
});

/** The paths in `t` with an ANY method: the routes that reach the function. */
function routesIn(t: Template): string[] {
  const resources = t.findResources('AWS::ApiGateway::Resource');
  const pathOf = (id: string): string => {
    const r = resources[id];
    if (!r) return '';
    const parent = r.Properties.ParentId as { Ref?: string };
    return `${parent.Ref ? pathOf(parent.Ref) : ''}/${r.Properties.PathPart as string}`;
  };
  return Object.values(t.findResources('AWS::ApiGateway::Method'))
    .filter((m) => m.Properties.HttpMethod === 'ANY')
    .map((m) => {
      const id = m.Properties.ResourceId as { Ref?: string };
      return id.Ref && resources[id.Ref] ? pathOf(id.Ref) : '/';
    });
}

const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';

type Behaviour = {
  PathPattern?: string; CachePolicyId: unknown; OriginRequestPolicyId?: unknown; AllowedMethods: string[]; CachedMethods?: string[];
  Compress: boolean; ViewerProtocolPolicy: string;
};

/** The distribution's config, and its behaviours with the cache policies they name. */
function edgeOf(t: Template) {
  const [distribution] = Object.values(t.findResources('AWS::CloudFront::Distribution'));
  const config = distribution.Properties.DistributionConfig;
  const policies = t.findResources('AWS::CloudFront::CachePolicy');
  const policyOf = (b: Behaviour) => {
    const ref = (b.CachePolicyId as { Ref?: string }).Ref;
    return ref ? policies[ref].Properties.CachePolicyConfig : b.CachePolicyId;
  };
  const behaviours: Behaviour[] = [config.DefaultCacheBehavior, ...(config.CacheBehaviors ?? [])];
  return { config, behaviours, policyOf };
}

describe('the edge (on by default)', () => {
  const template = synth({ suggestions: 'review' }, 'edge-suggestions');

  test('one distribution over the API\'s own hostname and stage, HTTP/2 and 3, IPv6, TLS 1.2', () => {
    template.resourceCountIs('AWS::CloudFront::Distribution', 1);
    const { config } = edgeOf(template);
    expect(config).toMatchObject({ Enabled: true, HttpVersion: 'http2and3', IPV6Enabled: true, PriceClass: 'PriceClass_All' });
    expect(config.Origins).toHaveLength(1);
    expect(config.Origins[0]).toMatchObject({
      OriginPath: '/live',
      CustomOriginConfig: { OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] },
    });
    expect(JSON.stringify(config.Origins[0].DomainName)).toMatch(/execute-api/);
  });

  test('a behaviour per route of the function\'s table, and no other', () => {
    const { behaviours } = edgeOf(template);
    const patterns = behaviours.map((b) => b.PathPattern ?? '/').sort();
    expect(patterns).toEqual(ROUTE_TABLE.map((r) => r.path).sort());
    for (const b of behaviours) {
      expect(b.Compress).toBe(true);
      expect(b.ViewerProtocolPolicy).toBe('redirect-to-https');
    }
  });

  test('a cached route is keyed on its path and its declared query parameters only, with TTLs from the answer', () => {
    const { behaviours, policyOf } = edgeOf(template);
    for (const route of ROUTE_TABLE) {
      const b = behaviours.find((x) => (x.PathPattern ?? '/') === route.path)!;
      if (route.edge === 'passed') continue;
      const policy = policyOf(b);
      expect(policy).toMatchObject({ MinTTL: 0, DefaultTTL: 0, MaxTTL: 31536000 });
      const key = policy.ParametersInCacheKeyAndForwardedToOrigin;
      expect(key.CookiesConfig).toEqual({ CookieBehavior: 'none' });
      expect(key.HeadersConfig).toEqual({ HeaderBehavior: 'none' });
      expect(key.EnableAcceptEncodingGzip && key.EnableAcceptEncodingBrotli).toBe(true);
      const expected = route.edge.cached.length
        ? { QueryStringBehavior: 'whitelist', QueryStrings: [...route.edge.cached] }
        : { QueryStringBehavior: 'none' };
      expect([route.path, key.QueryStringsConfig]).toEqual([route.path, expected]);
      // Every method reaches the function (its JSON 405, not CloudFront's 403); the
      // preflight is kept with the answers.
      expect([route.path, [...b.AllowedMethods].sort()]).toEqual([route.path, ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']]);
      expect([route.path, [...b.CachedMethods!].sort()]).toEqual([route.path, ['GET', 'HEAD', 'OPTIONS']]);
    }
  });

  test('no error is kept at the edge: every cacheable error status has a caching TTL of 0', () => {
    const { config } = edgeOf(template);
    const ttls = Object.fromEntries(
      (config.CustomErrorResponses as Array<{ ErrorCode: number; ErrorCachingMinTTL: number; ResponsePagePath?: string }>)
        .map((e) => [e.ErrorCode, [e.ErrorCachingMinTTL, e.ResponsePagePath]]),
    );
    for (const code of [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504]) {
      expect([code, ttls[code]]).toEqual([code, [0, undefined]]);
    }
  });

  test('the policies are named per region, so the same stack name deploys in a second region', () => {
    const names = [
      ...Object.values(template.findResources('AWS::CloudFront::OriginRequestPolicy')).map((p) => p.Properties.OriginRequestPolicyConfig.Name),
      ...Object.values(template.findResources('AWS::CloudFront::CachePolicy')).map((p) => p.Properties.CachePolicyConfig.Name),
    ];
    expect(names.length).toBeGreaterThan(1);
    for (const name of names) expect(JSON.stringify(name)).toContain('AWS::Region');
    // Each deployment holds this many of the account's 20 custom cache policies (docs/DEPLOY.md).
    template.resourceCountIs('AWS::CloudFront::CachePolicy', 6);
  });

  test('search and suggestions are never cached, allow POST and carry the viewer\'s address', () => {
    const { behaviours } = edgeOf(template);
    const passed = ROUTE_TABLE.filter((r) => r.edge === 'passed').map((r) => r.path);
    expect(passed).toEqual(expect.arrayContaining(['/v1/search', '/v1/suggestions', '/v1/suggestions/challenge']));
    const requestPolicies = template.findResources('AWS::CloudFront::OriginRequestPolicy');
    for (const path of passed) {
      const b = behaviours.find((x) => x.PathPattern === path)!;
      expect([path, b.CachePolicyId]).toEqual([path, CACHING_DISABLED]);
      expect(b.AllowedMethods).toEqual(expect.arrayContaining(['POST', 'GET', 'OPTIONS']));
      const policy = requestPolicies[(b.OriginRequestPolicyId as { Ref: string }).Ref].Properties.OriginRequestPolicyConfig;
      expect(policy.QueryStringsConfig).toEqual({ QueryStringBehavior: 'all' });
      expect(policy.HeadersConfig.Headers).toEqual(expect.arrayContaining(['CloudFront-Viewer-Address', 'Content-Type']));
      expect(policy.HeadersConfig.Headers).not.toContain('Host');
    }
  });

  test('a generated secret vouches for the viewer\'s address; its value is in no template', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
    const { config } = edgeOf(template);
    const headers = config.Origins[0].OriginCustomHeaders as Array<{ HeaderName: string; HeaderValue: unknown }>;
    const header = headers.find((h) => h.HeaderName === 'X-Now-Playing-Edge')!;
    expect(header.HeaderName).toBe('X-Now-Playing-Edge');
    const resolve = JSON.stringify(header.HeaderValue);
    expect(resolve).toMatch(/\{\{resolve:secretsmanager:/);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ EDGE_SECRET: header.HeaderValue }) },
    });
  });

  test('a new edgeSecretVersion updates both the distribution and the function, so both read a changed secret', () => {
    const next = synth({ suggestions: 'review', edgeSecretVersion: '2' });
    const distribution = (t: Template) => JSON.stringify(edgeOf(t).config.Origins[0].OriginCustomHeaders);
    const environment = (t: Template) =>
      JSON.stringify(Object.values(t.findResources('AWS::Lambda::Function')).map((f) => f.Properties.Environment));
    expect(distribution(next)).not.toEqual(distribution(template));
    expect(environment(next)).not.toEqual(environment(template));
    expect(edgeOf(next).config.Origins[0].OriginCustomHeaders).toContainEqual({
      HeaderName: 'X-Now-Playing-Edge-Version',
      HeaderValue: '2',
    });
    // The secret itself is untouched: only its readers are updated.
    expect(next.findResources('AWS::SecretsManager::Secret')).toEqual(template.findResources('AWS::SecretsManager::Secret'));
    expect(() => synth({ suggestions: 'review', edgeSecretVersion: '0' })).toThrow(/setting edgeSecretVersion/);
  });

  test('the preview page and the outputs name the distribution, the API behind it is named as the origin', () => {
    const url = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^EdgeDistribution'), 'DomainName'] }]] };
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ PUBLIC_URL: url }) } });
    template.hasOutput('DistributionUrl', { Value: url });
    // The id `make privacy` names for an invalidation.
    template.hasOutput('DistributionId', { Value: { Ref: Match.stringLikeRegexp('^EdgeDistribution') } });
    template.hasOutput('EndpointUrl', {
      Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^EdgeDistribution'), 'DomainName'] }, '/v1/current']] },
    });
    template.hasOutput('OriginUrl', { Value: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('execute-api')])] } });
  });

  test('without suggestions there is no secret and no passed route but the health check', () => {
    const plain = synth({}, 'edge');
    plain.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const { config, behaviours } = edgeOf(plain);
    expect(config.Origins[0].OriginCustomHeaders).toBeUndefined();
    expect(behaviours.filter((b) => b.CachePolicyId === CACHING_DISABLED).map((b) => b.PathPattern)).toEqual(['/v1/health']);
    expect(JSON.stringify(plain.toJSON())).not.toMatch(/EDGE_SECRET/);
  });

  test('Origin is in the cache key only when the answers depend on it', () => {
    const listed = synth({ allowedOrigins: 'https://me.dev,https://blog.me.dev' });
    for (const policy of Object.values(listed.findResources('AWS::CloudFront::CachePolicy'))) {
      expect(policy.Properties.CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.HeadersConfig).toEqual({
        HeaderBehavior: 'whitelist', Headers: ['Origin'],
      });
    }
  });

  test('edge=off keeps the regional stack: no distribution, no policy, no secret', () => {
    const off = synth({ ...NO_EDGE, suggestions: 'review' }, 'no-edge');
    for (const type of ['AWS::CloudFront::Distribution', 'AWS::CloudFront::CachePolicy', 'AWS::SecretsManager::Secret']) {
      off.resourceCountIs(type, 0);
    }
    expect(JSON.stringify(off.toJSON())).not.toMatch(/PUBLIC_URL|EDGE_SECRET/);
  });
});

describe('the edge with a custom domain', () => {
  test('in a Route 53 zone, in us-east-1: the certificate in the stack, the domain on the distribution, A and AAAA aliases', () => {
    const { stack: t, certificates } = synthAll(ROUTE53, 'edge-route53-us-east-1', 'us-east-1', ACCOUNT);
    expect(certificates).toBeUndefined();
    t.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'np.example.com',
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: 'np.example.com', HostedZoneId: 'Z0123456789ABCDEFGHIJ' }],
    });
    const { config } = edgeOf(t);
    expect(config.Aliases).toEqual(['np.example.com']);
    expect(config.ViewerCertificate).toMatchObject({ SslSupportMethod: 'sni-only', MinimumProtocolVersion: 'TLSv1.2_2021' });
    t.resourceCountIs('AWS::ApiGateway::DomainName', 0);
    for (const type of ['A', 'AAAA']) {
      t.hasResourceProperties('AWS::Route53::RecordSet', {
        Name: 'np.example.com.',
        Type: type,
        AliasTarget: Match.objectLike({ DNSName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EdgeDistribution'), 'DomainName'] } }),
      });
    }
    t.hasOutput('EndpointUrl', { Value: 'https://np.example.com/v1/current' });
    t.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ PUBLIC_URL: 'https://np.example.com' }) } });
  });

  test('in a Route 53 zone, elsewhere: a us-east-1 stack makes the certificate, deployed first', () => {
    const { stack: t, certificates } = synthAll(ROUTE53, 'edge-route53-eu-west-1', 'eu-west-1', ACCOUNT);
    expect(certificates).toBeDefined();
    certificates!.hasResourceProperties('AWS::CertificateManager::Certificate', { DomainName: 'np.example.com', ValidationMethod: 'DNS' });
    t.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    const { config } = edgeOf(t);
    expect(config.Aliases).toEqual(['np.example.com']);
    expect(JSON.stringify(config.ViewerCertificate.AcmCertificateArn)).toMatch(/Certificate/);
    // A weak reference: the certificate stack's output as it is at each deploy, so a new
    // certificate reaches the distribution; no export writer or reader function (and no
    // log groups of theirs for make destroy to leave behind).
    expect(Object.keys(config.ViewerCertificate.AcmCertificateArn)).toEqual(['Fn::GetStackOutput']);
    for (const template of [t, certificates!]) {
      expect(JSON.stringify(template.toJSON())).not.toMatch(/Custom::|AWS::Lambda::Function.*ExportsWriter|ExportsReader/);
    }
    const { app, stack, certificates: certStack } = build(ROUTE53, 'eu-west-1', ACCOUNT);
    expect(certStack!.region).toBe('us-east-1');
    expect(stack.dependencies).toContain(certStack);
    expect(() => app.synth()).not.toThrow();
  });

  test('in a Route 53 zone with the region unknown: refused, naming the setting and the way out', () => {
    expect(() => build(ROUTE53)).toThrow(/setting hostedZoneId: with the edge on, the certificate is made in us-east-1 .*certificateArn/);
  });

  test('with DNS elsewhere: the given us-east-1 certificate, no record, the distribution as CNAME target', () => {
    const t = synth(EXTERNAL_DNS, 'edge-external-dns', 'eu-west-1');
    t.resourceCountIs('AWS::Route53::RecordSet', 0);
    expect(edgeOf(t).config.ViewerCertificate.AcmCertificateArn).toBe(CERTIFICATE_ARN);
    t.hasOutput('CnameTarget', { Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EdgeDistribution'), 'DomainName'] } });
  });

  test('a certificate from any region but us-east-1 is refused at synth, naming it', () => {
    const elsewhere = CERTIFICATE_ARN.replace('us-east-1', 'eu-west-1');
    expect(() => build({ ...EXTERNAL_DNS, certificateArn: elsewhere }, 'eu-west-1')).toThrow(
      /setting certificateArn: the certificate is in eu-west-1 but CloudFront takes certificates from us-east-1 only/,
    );
  });
});

describe('alarms', () => {
  const template = synth(ALARMS, 'alarms');

  test('an SSL-only topic e-mails the owner', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'owner@example.com' });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('CloudWatch may publish to the topic, for these alarms of this account only', () => {
    const alarms = Object.keys(template.findResources('AWS::CloudWatch::Alarm')).sort();
    const [policy] = Object.values(template.findResources('AWS::SNS::TopicPolicy'));
    const statements = policy.Properties.PolicyDocument.Statement as Array<{ Effect: string; Condition: { ArnLike: Record<string, Array<{ 'Fn::GetAtt': string[] }>> } }>;
    const allow = statements.find((s) => s.Effect === 'Allow')!;
    expect(allow).toMatchObject({
      Action: 'sns:Publish',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Resource: { Ref: expect.stringMatching(/^AlarmsTopic/) },
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
    });
    const arns = allow.Condition.ArnLike['aws:SourceArn'].map((a) => a['Fn::GetAtt'][0]).sort();
    expect(arns).toEqual(alarms);
  });

  test('the topic is not under the aws/sns key, which CloudWatch cannot use', () => {
    const [topic] = Object.values(template.findResources('AWS::SNS::Topic'));
    expect(JSON.stringify(topic.Properties.KmsMasterKeyId ?? '')).not.toMatch(/alias\/aws\/sns/);
  });

  /** The metric math alarm whose expression matches `pattern`, with its metrics by id. */
  const mathAlarm = (t: Template, pattern: RegExp) => {
    const found = Object.values(t.findResources('AWS::CloudWatch::Alarm')).find((a) =>
      ((a.Properties.Metrics ?? []) as Array<{ Expression?: string }>).some((m) => pattern.test(m.Expression ?? '')));
    expect(found).toBeDefined();
    const metrics = found!.Properties.Metrics as Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: unknown } } }>;
    return { alarm: found!.Properties, byId: Object.fromEntries(metrics.map((m) => [m.Id, m])) };
  };

  test('alarms on errors, throttles, API errors and volume, the authorization running out, and the quota', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Namespace: 'AWS/Lambda', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: '4XXError', Namespace: 'AWS/ApiGateway', Statistic: 'Sum', Threshold: CLIENT_ERRORS_PER_5_MIN,
      Dimensions: [{ Name: 'ApiName', Value: 'NowPlaying' }],
    });
    // Half of the default 20 requests/s for 5 minutes.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Count', Namespace: 'AWS/ApiGateway', Statistic: 'Sum', Threshold: 3000,
      Dimensions: [{ Name: 'ApiName', Value: 'NowPlaying' }],
    });
  });

  test('the 5XX rate pages only over a volume of requests', () => {
    const { alarm, byId } = mathAlarm(template, /errors \/ requests/);
    expect(alarm.Threshold).toBe(0.05);
    const expression = Object.values(byId).find((m) => m.Expression)!.Expression!;
    expect(expression).toBe(`IF(requests >= ${MIN_REQUESTS_FOR_RATE}, errors / requests, 0)`);
    expect(byId.errors.MetricStat!.Metric).toMatchObject({ MetricName: '5XXError', Dimensions: [{ Name: 'ApiName', Value: 'NowPlaying' }] });
    expect(byId.requests.MetricStat!.Metric).toMatchObject({ MetricName: 'Count', Dimensions: [{ Name: 'ApiName', Value: 'NowPlaying' }] });
    // One error in two requests at night: 0, not 0.5.
    const rate = (errors: number, requests: number) => (requests >= MIN_REQUESTS_FOR_RATE ? errors / requests : 0);
    expect(rate(1, 2)).toBeLessThan(alarm.Threshold);
    expect(rate(5, 40)).toBeGreaterThan(alarm.Threshold);
  });

  test('a scheduled run that fails is retried by Lambda, then published to the alarm topic', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { Ref: Match.stringLikeRegexp('^AlarmsTopic') } } },
    });
  });

  test('the expiry alarm neither starts in ALARM nor hides a stopped health check', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'AuthorizationDaysRemaining',
      Namespace: 'NowPlaying',
      Dimensions: [{ Name: 'CredentialsParameter', Value: '/now-playing/spotify' }],
      ComparisonOperator: 'LessThanThreshold',
      Threshold: WARN_DAYS,
      Statistic: 'Minimum',
      // Reported every hour: three reports a period, two low periods of three to alarm.
      Period: AUTHORIZATION_PERIOD.toSeconds(),
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      // Missing data is neither: a new alarm waits for the first report ...
      TreatMissingData: 'missing',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmsTopic') }],
      // ... and a check that stops reporting mails through INSUFFICIENT_DATA.
      InsufficientDataActions: [{ Ref: Match.stringLikeRegexp('AlarmsTopic') }],
    });
    expect(AUTHORIZATION_PERIOD.toSeconds()).toBeGreaterThanOrEqual(3 * HEALTH_CHECK_EVERY.toSeconds());
  });

  test('the budget alarm fires at 80 % of spotifyCallsPerDay in 24 hours, the refusal alarm on one report', () => {
    const hourly = {
      Namespace: 'NowPlaying',
      Dimensions: [{ Name: 'CredentialsParameter', Value: '/now-playing/spotify' }],
      Statistic: 'Maximum',
      Period: HEALTH_CHECK_EVERY.toSeconds(),
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmsTopic') }],
    };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { ...hourly, MetricName: SPOTIFY_CALLS_METRIC.metricName, Threshold: 800 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { ...hourly, MetricName: QUOTA_REFUSED_METRIC.metricName, Threshold: 1 });
    const small = synth({ ...ALARMS, spotifyCallsPerDay: '1200' }, 'budget-1200');
    small.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: SPOTIFY_CALLS_METRIC.metricName, Threshold: 960 });
  });

  test('an hourly rule calls the health check with the REST event the function parses', () => {
    const fixture = path.join(__dirname, '..', '..', 'lambda', 'tests', 'data', 'events', 'scheduled_health.json');
    expect(JSON.parse(fs.readFileSync(fixture, 'utf8'))).toEqual(SCHEDULED_HEALTH_EVENT);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [Match.objectLike({ Input: JSON.stringify(SCHEDULED_HEALTH_EVENT) })],
    });
  });

  test('with suggestions off there is no daily digest', () => {
    expect(JSON.stringify(template.toJSON())).not.toMatch(/DIGEST_TOPIC_ARN|daily-digest|dynamodb:Scan/);
  });

  test('with suggestions, a daily rule asks the function for the digest, which may publish and scan, nothing more', () => {
    const fixture = path.join(__dirname, '..', '..', 'lambda', 'tests', 'data', 'events', 'scheduled_digest.json');
    expect(JSON.parse(fs.readFileSync(fixture, 'utf8'))).toEqual(DIGEST_EVENT);
    const digest = synth({ ...ALARMS, suggestions: 'review' }, 'digest');
    digest.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 8 * * ? *)',
      Targets: [Match.objectLike({ Input: JSON.stringify(DIGEST_EVENT), RetryPolicy: { MaximumRetryAttempts: 2 } })],
    });
    digest.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DIGEST_TOPIC_ARN: { Ref: Match.stringLikeRegexp('^AlarmsTopic') } }) },
    });
    const statements = Object.values(digest.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>);
    const publish = statements.filter((s) => [s.Action].flat().includes('sns:Publish'));
    expect(publish).toEqual([expect.objectContaining({ Resource: { Ref: expect.stringMatching(/^AlarmsTopic/) } })]);
    const scan = statements.filter((s) => [s.Action].flat().includes('dynamodb:Scan'));
    expect(scan).toHaveLength(1);
    expect(JSON.stringify(scan[0].Resource)).toMatch(/TokensTable/);
    expect(JSON.stringify(scan[0].Resource)).not.toMatch(/\*/);
  });

  test('a second deployment in the account watches its own API', () => {
    const other = synth({ ...ALARMS, stackName: 'NowPlayingStaging' });
    other.hasResourceProperties('AWS::ApiGateway::RestApi', { Name: 'NowPlayingStaging' });
    const { byId } = mathAlarm(other, /errors \/ requests/);
    expect(byId.errors.MetricStat!.Metric).toMatchObject({ Dimensions: [{ Name: 'ApiName', Value: 'NowPlayingStaging' }] });
    other.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Count', Dimensions: [{ Name: 'ApiName', Value: 'NowPlayingStaging' }] });
  });
});

describe('an account that already has API Gateway\'s logging role', () => {
  const template = synth({ accountLoggingRole: 'existing' }, 'existing-logging-role');

  test('leaves the account setting alone and still writes access logs', () => {
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(JSON.stringify(template.findResources('AWS::IAM::Role'))).not.toMatch(/apigateway\.amazonaws\.com/);
    template.hasResourceProperties('AWS::ApiGateway::Stage', { AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }) });
  });
});

describe('with the edge off, a certificate from another region', () => {
  test('is refused at synth when the region is known, naming the setting', () => {
    expect(() => build({ ...EXTERNAL_DNS, ...NO_EDGE }, 'eu-west-1')).toThrow(/setting certificateArn: the certificate is in us-east-1 but the stack deploys to eu-west-1/);
    expect(() => build({ ...EXTERNAL_DNS, ...NO_EDGE }, 'us-east-1')).not.toThrow();
  });

  test('is refused by a template rule, before any resource is created, when it is not', () => {
    const template = synth({ ...EXTERNAL_DNS, ...NO_EDGE });
    const rules = template.toJSON().Rules as Record<string, { Assertions: Array<{ Assert: unknown; AssertDescription: string }> }>;
    const assertions = Object.values(rules ?? {}).flatMap((r) => r.Assertions);
    expect(assertions).toContainEqual({
      Assert: { 'Fn::Equals': ['us-east-1', { Ref: 'AWS::Region' }] },
      AssertDescription: expect.stringContaining('setting certificateArn'),
    });
  });
});

describe('make destroy', () => {
  test('synthesizes with no function package, with the context the Makefile passes', () => {
    const makefile = fs.readFileSync(path.join(__dirname, '..', '..', 'Makefile'), 'utf8');
    const recipe = makefile.slice(makefile.indexOf('\ndestroy:'));
    const flag = /\$\(CDK\) destroy .*-c (\w+)=(\w+)/.exec(recipe);
    expect(flag).not.toBeNull();
    const { app } = build({ functionZip: '/nonexistent/bootstrap.zip', [flag![1]]: flag![2] });
    expect(() => app.synth()).not.toThrow();
  });
});

describe('settings', () => {
  test('configurable values reach the resources', () => {
    const template = synth({
      memorySize: '512', throttleRate: '5', throttleBurst: '10', cacheSeconds: '30', allowedOrigins: 'https://me.dev', logRetentionDays: '7',
      spotifyCallsPerDay: '2500', spotifyVisitorShare: '0', spotifyRecentShare: '25',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      Environment: {
        Variables: Match.objectLike({
          CACHE_SECONDS: '30', ALLOWED_ORIGINS: 'https://me.dev',
          SPOTIFY_CALLS_PER_DAY: '2500', SPOTIFY_VISITOR_SHARE: '0', SPOTIFY_RECENT_SHARE: '25',
        }),
      },
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([Match.objectLike({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 })]),
    });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  test.each([
    [{ domainName: 'not a domain', hostedZoneId: 'Z0123456789ABCDEFGHIJ' }, 'setting domainName'],
    [{ domainName: 'np.example.com' }, 'setting domainName: needs hostedZoneId'],
    [{ hostedZoneId: 'Z0123456789ABCDEFGHIJ' }, 'setting hostedZoneId: needs domainName'],
    [{ domainName: 'np.example.com', hostedZoneId: 'zone-1' }, 'setting hostedZoneId'],
    [{ domainName: 'np.example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'other.org' }, 'setting hostedZoneName'],
    [{ domainName: 'np.example.com', certificateArn: 'arn:aws:s3:::bucket' }, 'setting certificateArn'],
    [{ throttleRate: '100', throttleBurst: '10' }, 'setting throttleBurst'],
    [{ throttleRate: '0' }, 'setting throttleRate'],
    [{ throttleRate: 'lots' }, 'setting throttleRate'],
    [{ memorySize: '64' }, 'setting memorySize'],
    [{ timeoutSeconds: '60' }, 'setting timeoutSeconds'],
    [{ timeoutSeconds: '9' }, 'setting timeoutSeconds'],
    [{ accountLoggingRole: 'maybe' }, 'setting accountLoggingRole'],
    [{ logRetentionDays: '10' }, 'setting logRetentionDays'],
    [{ allowedOrigins: 'example.com' }, 'setting allowedOrigins'],
    [{ alarmEmail: 'nobody' }, 'setting alarmEmail'],
    [{ credentialsParameter: 'has space' }, 'setting credentialsParameter'],
    [{ credentialsParameter: 'a/b' }, 'setting credentialsParameter'],
    [{ credentialsParameter: '/a//b' }, 'setting credentialsParameter'],
    [{ credentialsParameter: '/aws/spotify' }, 'setting credentialsParameter'],
    [{ privacyParameter: 'has space' }, 'setting privacyParameter'],
    [{ credentialsParameter: `/${'a/'.repeat(15)}b` }, 'setting credentialsParameter'],
    [{ domainName: { nested: 'object' } }, 'setting domainName: expected a string or a number'],
    [{ functionZip: '/nonexistent/bootstrap.zip' }, 'setting functionZip'],
    [{ spotifyCallsPerDay: '99' }, 'setting spotifyCallsPerDay: expected a whole number from 100 to 1000000'],
    [{ spotifyCallsPerDay: '1,000' }, 'setting spotifyCallsPerDay'],
    [{ spotifyVisitorShare: '51' }, 'setting spotifyVisitorShare'],
    [{ spotifyRecentShare: '-5' }, 'setting spotifyRecentShare'],
    [{ spotifyVisitorShare: '40', spotifyRecentShare: '20' }, 'setting spotifyVisitorShare: with spotifyRecentShare it takes 60%'],
  ])('%j fails at synth naming the setting', (context, message) => {
    expect(() => build(context)).toThrow(message);
  });
});

describe('cdk-nag AwsSolutions', () => {
  test('every variant synthesizes with no unacknowledged finding', () => {
    for (const context of [{}, NO_EDGE, EXTERNAL_DNS, { ...ROUTE53, ...NO_EDGE }, { ...EXTERNAL_DNS, ...NO_EDGE }, { ...ALARMS, suggestions: 'review' }]) {
      const { app } = build(context);
      expect(() => app.synth()).not.toThrow();
    }
    for (const region of ['us-east-1', 'eu-west-1']) {
      const { app } = build({ ...ALARMS, ...ROUTE53, suggestions: 'review' }, region, ACCOUNT);
      expect(() => app.synth()).not.toThrow();
    }
  });

  test('is active: a non-compliant resource fails synthesis', () => {
    const { app, stack } = build();
    new s3.Bucket(stack, 'Unencrypted', { enforceSSL: false });
    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  });
});

describe('the documented settings', () => {
  test('are every setting, with the defaults the code applies, and each is in the README', () => {
    const defaults = loadSettings(() => undefined) as unknown as Record<string, unknown>;
    expect(SETTINGS_HELP.map(([key]) => key).sort()).toEqual(Object.keys(defaults).sort());
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const [key, documented] of SETTINGS_HELP) {
      if (documented.startsWith('(')) {
        expect(defaults[key]).toBeUndefined();
      } else {
        expect(String(defaults[key])).toBe(documented);
      }
      expect(readme).toContain(`| \`${key}\` |`);
    }
  });
});

describe('make synth', () => {
  test('prints no warning for any variant', () => {
    const variants: Array<[Record<string, unknown>, string?]> = [
      [{}], [NO_EDGE], [EXTERNAL_DNS], [{ ...ROUTE53, ...NO_EDGE }, 'eu-west-1'], [ROUTE53, 'eu-west-1'],
      [{ ...ALARMS, suggestions: 'review' }, 'eu-west-1'],
    ];
    for (const [context, region] of variants) {
      const { app } = build(context, region, region ? ACCOUNT : undefined);
      const assembly = app.synth();
      const warnings = assembly.stacks.flatMap((s) =>
        s.messages.filter((m) => m.level === SynthesisMessageLevel.WARNING).map((m) => `${m.id}: ${JSON.stringify(m.entry.data)}`));
      expect([context, warnings]).toEqual([context, []]);
    }
  });
});

describe('a Route 53 domain across settings', () => {
  test('switching edge on and off keeps the alias records\' logical ids, so they are updated, not made twice', () => {
    const ids = (context: Record<string, unknown>) => {
      const t = synth(context, undefined, 'us-east-1');
      return Object.entries(t.findResources('AWS::Route53::RecordSet')).map(([id, r]) => `${id} ${r.Properties.Type}`).sort();
    };
    const on = ids(ROUTE53);
    expect(on).toHaveLength(2);
    expect(ids({ ...ROUTE53, ...NO_EDGE })).toEqual(on);
  });

  test('with a certificateArn, no certificate and no certificate stack are made, wherever the stack deploys', () => {
    const { stack: t, certificates } = synthAll({ ...ROUTE53, certificateArn: CERTIFICATE_ARN }, 'edge-route53-arn', 'eu-west-1', ACCOUNT);
    expect(certificates).toBeUndefined();
    t.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    expect(edgeOf(t).config.ViewerCertificate.AcmCertificateArn).toBe(CERTIFICATE_ARN);
    t.resourceCountIs('AWS::Route53::RecordSet', 2);
  });
});
