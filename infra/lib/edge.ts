/** CloudFront in front of the REST API, so that a crowd is served from the edge. */
import { Aws, Duration, Names, SecretValue, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { RouteSpec, STAGE } from './api';
import { ALIASES_SCOPE, aliasRecords } from './domain';

/** The header the distribution proves itself with (`now_playing::http::EDGE_HEADER`). */
export const EDGE_HEADER = 'X-Now-Playing-Edge';
/** The version of the secret the distribution sends (`edgeSecretVersion`). */
export const EDGE_VERSION_HEADER = 'X-Now-Playing-Edge-Version';
/** What a passed route's request carries to the function besides its query string. */
export const PASSED_HEADERS = ['CloudFront-Viewer-Address', 'Content-Type', 'Origin'];
/** The longest a copy may live, whatever the answer says: a versioned script's year. */
export const MAX_TTL = Duration.days(365);
/** The error statuses CloudFront would otherwise keep for 10 s whatever their Cache-Control
 *  says (404, 410, 414 and 501 obey it; they are listed so that nothing depends on that). */
export const ERROR_STATUSES = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];

export interface EdgeProps {
  readonly api: apigw.RestApi;
  /** The routes this deployment has (`infra/routes.json`, suggestions' only when on). */
  readonly routes: ReadonlyArray<RouteSpec>;
  /** `*`, or a comma-separated list: then `Origin` is in every cache key. */
  readonly allowedOrigins: string;
  /** Sent to the function in `EDGE_HEADER`, so that it believes the viewer's address. */
  readonly secret?: SecretValue;
  /** Sent beside it in `EDGE_VERSION_HEADER`: a new version changes the distribution, so
   *  CloudFormation updates it and it reads the secret's value again. */
  readonly secretVersion?: number;
  /** The custom domain, with a certificate from us-east-1. */
  readonly domain?: { readonly name: string; readonly certificate: acm.ICertificate };
  /** The Route 53 zone for the domain's A and AAAA aliases. */
  readonly zone?: route53.IHostedZone;
}

/** A cache behaviour's name for a route's query key: `Answers`, or `KeyedOnTheme`. */
function policyName(keys: ReadonlyArray<string>): string {
  return keys.length === 0 ? 'Answers' : `KeyedOn${keys.map((k) => k[0].toUpperCase() + k.slice(1)).join('And')}`;
}

export class Edge extends Construct {
  public readonly distribution: cloudfront.Distribution;
  public readonly url: string;

  constructor(scope: Construct, id: string, props: EdgeProps) {
    super(scope, id);
    // The API's own hostname, not `RestApiOrigin`: that reads the deployment stage, which
    // depends on the function, whose PUBLIC_URL names this distribution.
    const origin = new origins.HttpOrigin(`${props.api.restApiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}`, {
      originPath: `/${STAGE}`,
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      customHeaders: props.secret
        ? { [EDGE_HEADER]: props.secret.unsafeUnwrap(), [EDGE_VERSION_HEADER]: String(props.secretVersion ?? 1) }
        : undefined,
    });
    const varyOrigin = props.allowedOrigins !== '*';
    // One policy per distinct query key. Minimum and default TTL 0: nothing is kept unless
    // the answer's own Cache-Control says so, and its `private` and `no-store` are obeyed.
    const policies = new Map<string, cloudfront.ICachePolicy>();
    const cachePolicy = (keys: ReadonlyArray<string>): cloudfront.ICachePolicy => {
      const name = policyName(keys);
      let policy = policies.get(name);
      if (!policy) {
        policy = new cloudfront.CachePolicy(this, name, {
          comment: `now-playing: the path${keys.length ? ` and ${keys.join(', ')}` : ''}${varyOrigin ? ', Origin' : ''}`,
          minTtl: Duration.seconds(0),
          defaultTtl: Duration.seconds(0),
          maxTtl: MAX_TTL,
          queryStringBehavior: keys.length
            ? cloudfront.CacheQueryStringBehavior.allowList(...keys)
            : cloudfront.CacheQueryStringBehavior.none(),
          headerBehavior: varyOrigin
            ? cloudfront.CacheHeaderBehavior.allowList('Origin')
            : cloudfront.CacheHeaderBehavior.none(),
          cookieBehavior: cloudfront.CacheCookieBehavior.none(),
          enableAcceptEncodingGzip: true,
          enableAcceptEncodingBrotli: true,
        });
        policies.set(name, policy);
      }
      return policy;
    };
    const passed = new cloudfront.OriginRequestPolicy(this, 'Passed', {
      // Named per region, as the cache policies are: the same stack name in a second region
      // must not collide with this account-wide name.
      originRequestPolicyName: `${Names.uniqueResourceName(this, { maxLength: 60 })}-Passed-${Stack.of(this).region}`,
      comment: 'now-playing: every query parameter, the viewer address, the body type and Origin',
      queryStringBehavior: cloudfront.OriginRequestQueryStringBehavior.all(),
      headerBehavior: cloudfront.OriginRequestHeaderBehavior.allowList(...PASSED_HEADERS),
      cookieBehavior: cloudfront.OriginRequestCookieBehavior.none(),
    });
    const behaviour = (route: RouteSpec): cloudfront.BehaviorOptions =>
      route.edge === 'passed'
        ? {
            origin,
            viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
            cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
            originRequestPolicy: passed,
            compress: true,
          }
        : {
            origin,
            viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            // Every method reaches the function, which answers 405 where a route has none
            // (CloudFront would answer a method it does not allow with its own 403). GET and
            // HEAD are kept, and OPTIONS: the widget's preflight, public for a day (keyed on
            // Origin when allowedOrigins is a list, as the answers are).
            allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
            cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
            cachePolicy: cachePolicy(route.edge.cached),
            compress: true,
          };
    // The preview page (`/`) and any unknown path (a 404, private) take the default.
    const root = props.routes.find((r) => r.path === '/');
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'now-playing: the crowd is served from the edge',
      defaultBehavior: behaviour(root ?? { path: '/', methods: 'GET, HEAD', group: 'always', edge: { cached: [] } }),
      additionalBehaviors: Object.fromEntries(
        props.routes.filter((r) => r.path !== '/').map((r) => [r.path, behaviour(r)]),
      ),
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableIpv6: true,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_ALL,
      // An error is kept no longer than its own Cache-Control says, which is never.
      errorResponses: ERROR_STATUSES.map((httpStatus) => ({ httpStatus, ttl: Duration.seconds(0) })),
      // The default certificate's policy is fixed at TLSv1: the minimum applies to a domain's.
      ...(props.domain
        ? {
            domainNames: [props.domain.name],
            certificate: props.domain.certificate,
            minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
          }
        : {}),
    });
    if (props.domain && props.zone) {
      // Under the stack's CustomDomain scope, where the regional domain's records are too.
      const scope = new Construct(Stack.of(this), ALIASES_SCOPE);
      const target = route53.RecordTarget.fromAlias(new targets.CloudFrontTarget(this.distribution));
      aliasRecords(scope, props.zone, props.domain.name, target);
    }
    this.url = `https://${props.domain?.name ?? this.distribution.distributionDomainName}`;
  }
}
