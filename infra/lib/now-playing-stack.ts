/** The stack: composes the table, the function, the API and the optional domain and alarms. */
import { CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { Alarms } from './alarms';
import { NowPlayingApi, ROUTE_TABLE } from './api';
import { Edge } from './edge';
import { DailyDigest } from './digest';
import { KeepFresh } from './keep-fresh';
import { Live } from './live';
import { CustomDomain } from './domain';
import { NowPlayingFunction } from './function';
import { acknowledgeEdgeFindings, acknowledgeFindings } from './nag';
import { Settings } from './settings';
import { STATE_TABLE_CONSTRUCT_ID, StateTable } from './state-table';

export interface NowPlayingStackProps extends StackProps {
  readonly settings: Settings;
  /** The edge's certificate, made in us-east-1 by its own stack (`CertificateStack`). */
  readonly edgeCertificate?: acm.ICertificate;
}

export class NowPlayingStack extends Stack {
  constructor(scope: Construct, id: string, props: NowPlayingStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const state = new StateTable(this, STATE_TABLE_CONSTRUCT_ID);
    const fn = new NowPlayingFunction(this, 'NowPlaying', {
      functionZip: s.functionZip,
      table: state.table,
      credentialsParameter: s.credentialsParameter,
      privacyParameter: s.privacyParameter,
      allowedOrigins: s.allowedOrigins,
      cacheSeconds: s.cacheSeconds,
      spotifyCallsPerDay: s.spotifyCallsPerDay,
      spotifyVisitorShare: s.spotifyVisitorShare,
      spotifyRecentShare: s.spotifyRecentShare,
      memorySize: s.memorySize,
      timeoutSeconds: s.timeoutSeconds,
      logRetentionDays: s.logRetentionDays,
      suggestions: s.suggestions,
    });
    const api = new NowPlayingApi(this, 'Http', {
      handler: fn.function,
      allowedOrigins: s.allowedOrigins,
      throttleRate: s.throttleRate,
      throttleBurst: s.throttleBurst,
      logRetentionDays: s.logRetentionDays,
      accountLoggingRole: s.accountLoggingRole,
      suggestions: s.suggestions !== 'off',
    });
    let endpoint = api.api.url.replace(/\/$/, '');
    if (s.edge === 'on') {
      endpoint = this.edge(s, api, fn, props.edgeCertificate);
    } else if (s.domainName) {
      const domain = new CustomDomain(this, 'CustomDomain', {
        api: api.api,
        domainName: s.domainName,
        hostedZone: s.hostedZoneId ? { id: s.hostedZoneId, name: s.hostedZoneName! } : undefined,
        certificateArn: s.certificateArn,
      });
      endpoint = domain.url;
      if (!s.hostedZoneId) {
        new CfnOutput(this, 'CnameTarget', {
          description: `Point a CNAME for ${s.domainName} at this name`,
          value: domain.domain.domainNameAliasDomainName,
        });
      }
    }
    // The schedules invoke asynchronously. Lambda retries a failed run twice (about one and
    // three minutes later: the digest's resend) and drops an event older than an hour; with
    // alarms on, a run that still fails is published to the alarm topic.
    const asyncInvoke = { retryAttempts: 2, maxEventAge: Duration.hours(1) };
    if (s.live === 'on') {
      new Live(this, 'Live', { handler: fn.function, stackName: s.stackName });
    }
    if (s.keepFresh === 'on') {
      new KeepFresh(this, 'KeepFresh', { handler: fn.function });
    }
    if (s.alarmEmail) {
      const alarms = new Alarms(this, 'Alarms', {
        email: s.alarmEmail,
        handler: fn.function,
        api: api.api,
        credentialsParameter: s.credentialsParameter,
        throttleRate: s.throttleRate,
        spotifyCallsPerDay: s.spotifyCallsPerDay,
      });
      fn.function.configureAsyncInvoke({ ...asyncInvoke, onFailure: new destinations.SnsDestination(alarms.topic) });
      if (s.suggestions !== 'off') {
        new DailyDigest(this, 'Digest', { handler: fn.function, role: fn.role, table: state.table, topic: alarms.topic });
      }
    }
    if (!s.alarmEmail) fn.function.configureAsyncInvoke(asyncInvoke);
    new CfnOutput(this, 'EndpointUrl', { description: 'The now-playing endpoint', value: `${endpoint}/v1/current` });
    new CfnOutput(this, 'TryIt', { description: 'Try it', value: `curl -s ${endpoint}/v1/current` });
    new CfnOutput(this, 'TableName', { description: 'The shared table (make suggestions)', value: state.table.tableName });
    new CfnOutput(this, 'LogGroupName', { description: 'The function\'s logs (make logs)', value: fn.logGroup.logGroupName });
    acknowledgeFindings(this, { api, state });
  }

  /** CloudFront in front of the API, with the custom domain on it; returns its URL. */
  private edge(s: Settings, api: NowPlayingApi, fn: NowPlayingFunction, certificate?: acm.ICertificate): string {
    const zone = s.hostedZoneId
      ? route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: s.hostedZoneId, zoneName: s.hostedZoneName! })
      : undefined;
    if (s.domainName && !certificate) {
      certificate = s.certificateArn
        ? acm.Certificate.fromCertificateArn(this, 'EdgeCertificate', s.certificateArn)
        // Only when the stack itself is in us-east-1 (app.ts makes a stack there otherwise).
        : new acm.Certificate(this, 'EdgeCertificate', { domainName: s.domainName, validation: acm.CertificateValidation.fromDns(zone) });
    }
    const suggestions = s.suggestions !== 'off';
    // Only the suggestion limits need the viewer's address, and so the secret that vouches
    // for it. Generated by Secrets Manager: its value is in no template and no output.
    const secret = suggestions
      ? new secretsmanager.Secret(this, 'EdgeSecret', {
          description: 'now-playing: proves a request came through this stack\'s CloudFront distribution',
          generateSecretString: { passwordLength: 48, excludePunctuation: true },
          removalPolicy: RemovalPolicy.DESTROY,
        })
      : undefined;
    const edge = new Edge(this, 'Edge', {
      api: api.api,
      routes: ROUTE_TABLE.filter((r) => r.group === 'always' || suggestions),
      allowedOrigins: s.allowedOrigins,
      secret: secret?.secretValue,
      secretVersion: s.edgeSecretVersion,
      domain: s.domainName && certificate ? { name: s.domainName, certificate } : undefined,
      zone,
    });
    // The preview page's snippets name the edge, never the execute-api URL behind it.
    fn.function.addEnvironment('PUBLIC_URL', edge.url);
    // A dynamic reference is resolved only when its resource is updated: the version, in
    // both, makes a changed value reach both in the same deploy.
    if (secret) {
      fn.function.addEnvironment('EDGE_SECRET', secret.secretValue.unsafeUnwrap());
      fn.function.addEnvironment('EDGE_SECRET_VERSION', String(s.edgeSecretVersion));
    }
    if (s.domainName && !s.hostedZoneId) {
      new CfnOutput(this, 'CnameTarget', {
        description: `Point a CNAME for ${s.domainName} at this name`,
        value: edge.distribution.distributionDomainName,
      });
    }
    new CfnOutput(this, 'DistributionId', {
      description: 'The CloudFront distribution\'s id, for an invalidation (make privacy says when)',
      value: edge.distribution.distributionId,
    });
    new CfnOutput(this, 'DistributionUrl', {
      description: 'The CloudFront distribution (make smoke URL=...)',
      value: `https://${edge.distribution.distributionDomainName}`,
    });
    new CfnOutput(this, 'OriginUrl', {
      description: 'The API behind the distribution: uncached, throttled, for checks only',
      value: api.api.url.replace(/\/$/, ''),
    });
    acknowledgeEdgeFindings(edge, secret);
    return edge.url;
  }
}
