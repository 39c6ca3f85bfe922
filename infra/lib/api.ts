/** The regional REST API in front of the function: routes, CORS, throttling, access logs. */
import * as fs from 'fs';
import * as path from 'path';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The stage, and so the distribution's origin path. */
export const STAGE = 'live';

export interface NowPlayingApiProps {
  readonly handler: lambda.IFunction;
  readonly allowedOrigins: string;
  readonly throttleRate: number;
  readonly throttleBurst: number;
  readonly logRetentionDays: number;
  /** Set API Gateway's account-wide logging role (`create`), or rely on the account's own. */
  readonly accountLoggingRole: 'create' | 'existing';
  /** Adds the suggestion routes, their body model and their own lower throttling. */
  readonly suggestions: boolean;
}

/** One route of the function's table (`now_playing::http::ROUTES`). */
export interface RouteSpec {
  readonly path: string;
  /** The methods it answers besides the preflight, as `Allow` lists them. */
  readonly methods: string;
  /** `suggestions`: present only when suggestions are on. */
  readonly group: 'always' | 'suggestions';
  /** What the edge does with it: keep it, keyed on the path and these query parameters
   *  alone, or pass every request to the function (`now_playing::http::Edge`). */
  readonly edge: 'passed' | { readonly cached: ReadonlyArray<string> };
}

/** The function's route table, as `cargo test` keeps `infra/routes.json`: the stack's
 *  routes come from it, so a route cannot be answered locally and missing here. */
export const ROUTE_TABLE: ReadonlyArray<RouteSpec> = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'routes.json'), 'utf8'),
) as RouteSpec[];

/** The routes the function answers. Every method on them reaches the function, which
 *  answers what the table says, the CORS preflight (OPTIONS) and 405 for the rest, exactly
 *  as `make dev` does; an unknown path is the gateway's JSON 404. */
export const ROUTES = ROUTE_TABLE.filter((r) => r.group === 'always').map((r) => r.path);

/** The routes of visitors' suggestions, present only when they are on. */
export const SUGGESTION_ROUTES = ROUTE_TABLE.filter((r) => r.group === 'suggestions').map((r) => r.path);

/** Per-method throttling of the suggestion routes, far below the stage's: each costs a
 *  Spotify look-up or a write. Requests per second and burst. A stage's method setting is
 *  keyed `{resource-path}/{http-method}` on a method the resource has, or `/*\/*` for all
 *  (API Gateway's MethodSetting: "ResourcePath" and "HttpMethod"; CloudFormation's
 *  AWS::ApiGateway::Stage MethodSetting), so these routes get explicit GET and POST
 *  methods beside their ANY, and jest checks that each key names one. */
export const SUGGESTION_THROTTLING: Record<string, [number, number]> = {
  '/v1/search/GET': [5, 10],
  '/v1/suggestions/challenge/GET': [2, 5],
  '/v1/suggestions/POST': [1, 3],
};

/** The body of POST /v1/suggestions; a request that does not match never reaches the
 *  function. The function checks the same and more (track id forms, control characters). */
export const SUGGESTION_SCHEMA: apigw.JsonSchema = {
  schema: apigw.JsonSchemaVersion.DRAFT4,
  type: apigw.JsonSchemaType.OBJECT,
  required: ['track'],
  additionalProperties: false,
  properties: {
    track: { type: apigw.JsonSchemaType.STRING, minLength: 22, maxLength: 200 },
    name: { type: apigw.JsonSchemaType.STRING, maxLength: 40 },
    message: { type: apigw.JsonSchemaType.STRING, maxLength: 140 },
    altcha: { type: apigw.JsonSchemaType.STRING, maxLength: 1200 },
    website: { type: apigw.JsonSchemaType.STRING, maxLength: 200 },
  },
};

/** The function's error shape for errors API Gateway answers itself. */
function errorTemplate(code: string): Record<string, string> {
  return {
    'application/json': `{"error": {"code": "${code}", "message": $context.error.messageString}}`,
  };
}

export class NowPlayingApi extends Construct {
  public readonly api: apigw.RestApi;
  public readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: NowPlayingApiProps) {
    super(scope, id);
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new apigw.RestApi(this, 'Api', {
      // Named after the stack: the 5XX alarm's ApiName dimension must be this API alone.
      restApiName: Stack.of(this).stackName,
      description: 'now-playing: what the owner is playing on Spotify',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // Access logs need API Gateway's account-wide logging role. When the stack sets it,
      // the role is kept on destroy: the account setting would point at nothing otherwise,
      // and other APIs in the account may log through it.
      ...(props.accountLoggingRole === 'create'
        ? { cloudWatchRole: true, cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN }
        : { cloudWatchRole: false }),
      deployOptions: {
        stageName: STAGE,
        throttlingRateLimit: props.throttleRate,
        throttlingBurstLimit: props.throttleBurst,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogs),
        // No source address, caller or user: visitors' addresses are kept only as a keyed
        // hash (the suggestion limits), never in a log.
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields({
          ip: false, caller: false, user: false,
          httpMethod: true, protocol: true, requestTime: true, resourcePath: true, responseLength: true, status: true,
        }),
        // Execution logs off: API Gateway would create a log group of its own
        // (API-Gateway-Execution-Logs_<id>/live) that no stack owns, kept forever and left
        // behind by destroy. The access log records every request and the function logs
        // its own errors.
        loggingLevel: apigw.MethodLoggingLevel.OFF,
        // The API-wide 4XX/5XX/Count/Latency metrics the alarm uses are always on; this
        // adds billed per-method ones that nothing reads.
        metricsEnabled: false,
        methodOptions: props.suggestions
          ? Object.fromEntries(
              Object.entries(SUGGESTION_THROTTLING).map(([path, [rate, burst]]) => [
                path,
                { throttlingRateLimit: rate, throttlingBurstLimit: burst },
              ]),
            )
          : undefined,
      },
    });
    // allowTestInvoke off: the console's test button would add a second invoke permission
    // for every method, doubling the function's resource policy.
    const integration = new apigw.LambdaIntegration(props.handler, { proxy: true, allowTestInvoke: false });
    // The validator checks what a method declares: on ANY nothing (no parameters or model
    // are declared), on POST /v1/suggestions the body against the model.
    const requestValidator = this.api.addRequestValidator('Parameters', {
      validateRequestParameters: true,
      validateRequestBody: true,
    });
    const routes = props.suggestions ? [...ROUTES, ...SUGGESTION_ROUTES] : ROUTES;
    for (const route of routes) {
      const resource = route.split('/').filter(Boolean).reduce<apigw.IResource>(
        (parent, part) => parent.getResource(part) ?? parent.addResource(part),
        this.api.root,
      );
      resource.addMethod('ANY', integration, { requestValidator });
    }
    if (props.suggestions) {
      // Each throttled route has the method its setting names (SUGGESTION_THROTTLING).
      for (const key of Object.keys(SUGGESTION_THROTTLING)) {
        const method = key.slice(key.lastIndexOf('/') + 1);
        if (method === 'POST') continue;
        this.api.root.resourceForPath(key.slice(0, key.lastIndexOf('/'))).addMethod(method, integration, { requestValidator });
      }
      // POST has its own method, so that its body is checked against the model first;
      // ANY still brings the preflight and the 405 to the function.
      const model = this.api.addModel('Suggestion', {
        contentType: 'application/json',
        modelName: 'Suggestion',
        schema: SUGGESTION_SCHEMA,
      });
      this.api.root.resourceForPath('/v1/suggestions').addMethod('POST', integration, {
        requestValidator,
        requestModels: { 'application/json': model },
      });
    }
    // Errors API Gateway answers itself get the function's JSON shape and a CORS header,
    // so a page can read them and back off. They carry no owner data, hence '*'.
    // Private: a CDN in front must never hand one visitor's 429 to another.
    const cors = { 'Access-Control-Allow-Origin': "'*'", 'Cache-Control': "'private, no-store'" };
    // The stage's token bucket refills every second.
    this.api.addGatewayResponse('Throttled', {
      type: apigw.ResponseType.THROTTLED,
      responseHeaders: { ...cors, 'Retry-After': "'1'" },
      templates: errorTemplate('rate_limited'),
    });
    // A REST API answers an unknown path with 403 "Missing Authentication Token".
    this.api.addGatewayResponse('UnknownPath', {
      type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      statusCode: '404',
      responseHeaders: cors,
      templates: errorTemplate('not_found'),
    });
    this.api.addGatewayResponse('Default4xx', {
      type: apigw.ResponseType.DEFAULT_4XX,
      responseHeaders: cors,
      templates: errorTemplate('bad_request'),
    });
    this.api.addGatewayResponse('Default5xx', {
      type: apigw.ResponseType.DEFAULT_5XX,
      responseHeaders: cors,
      templates: errorTemplate('internal'),
    });
  }
}
