/** Builds the CDK app from settings: used by bin/app.ts and by the tests alike. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CERTIFICATE_REGION, CertificateStack } from './certificate-stack';
import { NowPlayingStack } from './now-playing-stack';
import { loadSettings, SettingsError } from './settings';

export interface BuiltApp {
  readonly app: App;
  readonly stack: NowPlayingStack;
  /** The edge's certificate in us-east-1, when the stack is elsewhere. */
  readonly certificates?: CertificateStack;
}

/** The feature flag of CDK's cross-stack references (aws-cdk-lib 2.254 and later). */
export const CROSS_STACK_REFERENCES = '@aws-cdk/core:defaultCrossStackReferences';

/** Context that `make destroy` passes: removing a stack needs no function package. */
export const WITHOUT_PACKAGE = 'withoutPackage';

/** An empty zip standing in for the package where none is needed; it is never uploaded. */
export function placeholderPackage(): string {
  const zip = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'now-playing-package-')), 'bootstrap.zip');
  const empty = Buffer.alloc(22);
  empty.write('PK\x05\x06', 'latin1');
  fs.writeFileSync(zip, empty);
  return zip;
}

/** `region` and `account` are where the stack deploys, when known: the CDK CLI sets
 *  CDK_DEFAULT_REGION and CDK_DEFAULT_ACCOUNT from the credentials. */
export function buildApp(
  context: Record<string, unknown> = {},
  outdir?: string,
  region: string | undefined = process.env.CDK_DEFAULT_REGION,
  account: string | undefined = process.env.CDK_DEFAULT_ACCOUNT,
): BuiltApp {
  // Weak cross-stack references: the main stack reads the certificate stack's outputs as
  // they are at each deploy, so a new certificate (a changed domainName) reaches the
  // distribution. The strong ones' export writer never rewrote a changed value.
  const app = new App({ context: { [CROSS_STACK_REFERENCES]: 'weak', ...context }, outdir });
  let settings = loadSettings((key) => app.node.tryGetContext(key), region);
  const zip = path.resolve(settings.functionZip);
  if (!zip.endsWith('.zip') || !fs.existsSync(zip)) {
    if (String(app.node.tryGetContext(WITHOUT_PACKAGE)) === 'true') {
      settings = { ...settings, functionZip: placeholderPackage() };
    } else {
      throw new SettingsError('functionZip', `${zip} is not there: run \`make build\` first`);
    }
  }
  // With the edge, a Route 53 validated certificate must be made in us-east-1: in the stack
  // itself when it deploys there, else in a small stack of its own whose ARN the main
  // stack reads across regions (CDK's crossRegionReferences), deployed first.
  let certificates: CertificateStack | undefined;
  // A given certificateArn is used as it is: no certificate is made, and no stack for it.
  if (settings.edge === 'on' && settings.hostedZoneId && !settings.certificateArn && region !== CERTIFICATE_REGION) {
    if (region === undefined || account === undefined) {
      throw new SettingsError(
        'hostedZoneId',
        `with the edge on, the certificate is made in ${CERTIFICATE_REGION} by a stack of its own, which needs the ` +
          'account and region: deploy through `make deploy` with AWS credentials, or give certificateArn of a ' +
          `${CERTIFICATE_REGION} certificate instead`,
      );
    }
    certificates = new CertificateStack(app, `${settings.stackName}-Certificate`, {
      env: { account, region: CERTIFICATE_REGION },
      crossRegionReferences: true,
      domainName: settings.domainName!,
      hostedZone: { id: settings.hostedZoneId, name: settings.hostedZoneName! },
      description: `now-playing: the certificate for ${settings.domainName} on CloudFront`,
    });
  }
  const stack = new NowPlayingStack(app, settings.stackName, {
    settings,
    edgeCertificate: certificates?.certificate,
    ...(certificates ? { env: { account, region }, crossRegionReferences: true } : {}),
    description: 'now-playing: a Spotify now-playing endpoint (Lambda, DynamoDB, API Gateway, CloudFront)',
  });
  if (certificates) stack.addStackDependency(certificates, 'the distribution reads the certificate it makes');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, certificates };
}
