/** Builds the CDK app from settings: used by bin/app.ts and by the tests alike. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { NowPlayingStack } from './now-playing-stack';
import { loadSettings, SettingsError } from './settings';

export interface BuiltApp {
  readonly app: App;
  readonly stack: NowPlayingStack;
}

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

/** `region` is where the stack deploys, when known: the CDK CLI sets CDK_DEFAULT_REGION. */
export function buildApp(
  context: Record<string, unknown> = {},
  outdir?: string,
  region: string | undefined = process.env.CDK_DEFAULT_REGION,
): BuiltApp {
  const app = new App({ context, outdir });
  let settings = loadSettings((key) => app.node.tryGetContext(key), region);
  const zip = path.resolve(settings.functionZip);
  if (!zip.endsWith('.zip') || !fs.existsSync(zip)) {
    if (String(app.node.tryGetContext(WITHOUT_PACKAGE)) === 'true') {
      settings = { ...settings, functionZip: placeholderPackage() };
    } else {
      throw new SettingsError('functionZip', `${zip} is not there: run \`make build\` first`);
    }
  }
  const stack = new NowPlayingStack(app, settings.stackName, {
    settings,
    description: 'now-playing: a Spotify now-playing endpoint (Lambda, DynamoDB, API Gateway)',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
