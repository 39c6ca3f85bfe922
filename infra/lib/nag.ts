/** Every cdk-nag AwsSolutions finding this stack accepts, each with the reason it is right here. */
import { Stack, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Edge } from './edge';
import { NowPlayingApi } from './api';
import { StateTable } from './state-table';

export interface Acknowledged {
  readonly api: NowPlayingApi;
  readonly state: StateTable;
}

export function acknowledgeFindings(_stack: Stack, { api, state }: Acknowledged): void {
  const publicApi = Validations.of(api);
  publicApi.acknowledge({
    id: 'AwsSolutions::AwsSolutions-APIG4',
    reason: 'A public, read-only endpoint that web pages and README image proxies fetch anonymously; stage throttling bounds its use.',
  });
  publicApi.acknowledge({
    id: 'AwsSolutions::AwsSolutions-COG4',
    reason: 'Anonymous visitors read it: there are no users to sign in with Cognito.',
  });
  publicApi.acknowledge({
    id: 'AwsSolutions::AwsSolutions-APIG3',
    reason: 'A WAF web ACL costs more per month than this whole service; stage throttling and the function\'s shared cache bound abuse.',
  });
  publicApi.acknowledge({
    id: 'AwsSolutions::AwsSolutions-APIG6',
    reason: 'Execution logs are off on purpose: API Gateway writes them to a log group no stack owns, kept forever and left behind by destroy. The JSON access log records every request; the function logs its own errors.',
  });
  const loggingRole = api.api.node.tryFindChild('CloudWatchRole');
  if (loggingRole) Validations.of(loggingRole).acknowledge({
    id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
    reason: 'API Gateway\'s account-level logging role, needed for access logs; AWS documents this managed policy for it and maintains it.',
  });
  Validations.of(state.table).acknowledge({
    id: 'AwsSolutions::AwsSolutions-DDB3',
    reason: 'Short-lived state (a one-hour token, answers, art, counters) and suggestions kept at most 90 days, which visitors may ask to be forgotten: point-in-time recovery would keep them 35 days more. Losing the table costs a token refresh and the waiting suggestions.',
  });
}

export function acknowledgeEdgeFindings(edge: Edge, secret?: secretsmanager.Secret): void {
  const distribution = Validations.of(edge.distribution);
  distribution.acknowledge({
    id: 'AwsSolutions::AwsSolutions-CFR1',
    reason: 'Anyone anywhere may read what the owner is playing: there is no country to keep out.',
  });
  distribution.acknowledge({
    id: 'AwsSolutions::AwsSolutions-CFR2',
    reason: 'A WAF web ACL costs more per month than this whole service; the answers are public and cached, and the origin\'s stage throttle bounds what reaches the function.',
  });
  distribution.acknowledge({
    id: 'AwsSolutions::AwsSolutions-CFR3',
    reason: 'Standard logs would need an S3 bucket and keep visitors\' addresses; every request that reaches the origin is in its access log, without addresses.',
  });
  distribution.acknowledge({
    id: 'AwsSolutions::AwsSolutions-CFR4',
    reason: 'With the cloudfront.net name, CloudFront\'s own certificate allows TLS 1.0 viewers; a custom domain gets TLSv1.2_2021.',
  });
  if (secret) Validations.of(secret).acknowledge({
    id: 'AwsSolutions::AwsSolutions-SMG4',
    reason: 'It only proves a request came through the distribution; rotating it would need a rotation function. Replace it by removing and redeploying the edge if it ever leaks.',
  });
}
