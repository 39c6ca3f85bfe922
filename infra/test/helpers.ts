/** Synthesizes the app for a set of settings, with a stand-in for the built function. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, BuiltApp, placeholderPackage } from '../lib/app';

let asset: string | undefined;

/** An empty zip standing in for the package `make build` writes; it is never deployed. */
export function fakeAsset(): string {
  asset ??= placeholderPackage();
  return asset;
}

/** The account the tests deploy to, when one is needed. */
export const ACCOUNT = '444455556666';

/** Synthesizes as the CLI would, in `region` (undefined: a region-agnostic template). */
export function build(context: Record<string, unknown> = {}, region?: string, account?: string): BuiltApp {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'now-playing-cdk-'));
  return buildApp({ functionZip: fakeAsset(), ...context }, outdir, region, account);
}

/** The templates, after cdk-nag has run (synthesis throws on an unacknowledged finding):
 *  the stack's, and the certificate stack's when there is one. */
export function synthAll(
  context: Record<string, unknown> = {},
  variant?: string,
  region?: string,
  account?: string,
): { stack: Template; certificates?: Template } {
  const { app, stack, certificates } = build(context, region, account);
  const assembly = app.synth();
  const write = (name: string, template: Record<string, unknown>): Template => {
    if (variant) {
      // cfn-lint reads these after jest (make test-infra).
      const out = path.join(__dirname, '..', 'test-out');
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, `${name}.template.json`), JSON.stringify(template, null, 1));
    }
    return Template.fromJSON(template);
  };
  const main = write(variant ?? '', assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>);
  const certs = certificates
    ? write(`${variant}-certificate`, assembly.getStackArtifact(certificates.artifactId).template as Record<string, unknown>)
    : undefined;
  return { stack: main, certificates: certs };
}

/** The stack's template (see `synthAll`). */
export function synth(context: Record<string, unknown> = {}, variant?: string, region?: string): Template {
  return synthAll(context, variant, region).stack;
}

export const ROUTE53 = { domainName: 'np.example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ' };
export const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:111122223333:certificate/0d3f2c5e-6a7b-4c8d-9e0f-a1b2c3d4e5f6';
export const EXTERNAL_DNS = { domainName: 'np.example.com', certificateArn: CERTIFICATE_ARN };
export const ALARMS = { alarmEmail: 'owner@example.com' };
/** Today's stack without the edge: the regional API, its own custom domain. */
export const NO_EDGE = { edge: 'off' };
