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

/** Synthesizes as the CLI would, in `region` (undefined: a region-agnostic template). */
export function build(context: Record<string, unknown> = {}, region?: string): BuiltApp {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'now-playing-cdk-'));
  return buildApp({ functionZip: fakeAsset(), ...context }, outdir, region);
}

/** The template, after cdk-nag has run (synthesis throws on an unacknowledged finding). */
export function synth(context: Record<string, unknown> = {}, variant?: string): Template {
  const { app, stack } = build(context);
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>;
  if (variant) {
    // cfn-lint reads these after jest (make test-infra).
    const out = path.join(__dirname, '..', 'test-out');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, `${variant}.template.json`), JSON.stringify(template, null, 1));
  }
  return Template.fromJSON(template);
}

export const ROUTE53 = { domainName: 'np.example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ' };
export const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:111122223333:certificate/0d3f2c5e-6a7b-4c8d-9e0f-a1b2c3d4e5f6';
export const EXTERNAL_DNS = { domainName: 'np.example.com', certificateArn: CERTIFICATE_ARN };
export const ALARMS = { alarmEmail: 'owner@example.com' };
