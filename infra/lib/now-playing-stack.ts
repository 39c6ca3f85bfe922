/** The stack: composes the table, the function, the API and the optional domain and alarms. */
import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { Construct } from 'constructs';
import { Alarms } from './alarms';
import { NowPlayingApi } from './api';
import { DailyDigest } from './digest';
import { KeepFresh } from './keep-fresh';
import { CustomDomain } from './domain';
import { NowPlayingFunction } from './function';
import { acknowledgeFindings } from './nag';
import { Settings } from './settings';
import { STATE_TABLE_CONSTRUCT_ID, StateTable } from './state-table';

export interface NowPlayingStackProps extends StackProps {
  readonly settings: Settings;
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
      allowedOrigins: s.allowedOrigins,
      cacheSeconds: s.cacheSeconds,
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
    if (s.domainName) {
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
}
