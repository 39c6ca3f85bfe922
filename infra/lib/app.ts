/** Builds the CDK app from settings: used by bin/app.ts and by the tests alike. */
import * as fs from 'fs';
import * as path from 'path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { NowPlayingStack } from './now-playing-stack';
import { loadSettings, SettingsError } from './settings';

export interface BuiltApp {
  readonly app: App;
  readonly stack: NowPlayingStack;
}

export function buildApp(context: Record<string, unknown> = {}, outdir?: string): BuiltApp {
  const app = new App({ context, outdir });
  const settings = loadSettings((key) => app.node.tryGetContext(key));
  const zip = path.resolve(settings.functionZip);
  if (!zip.endsWith('.zip') || !fs.existsSync(zip)) {
    throw new SettingsError('functionZip', `${zip} is not there: run \`make build\` first`);
  }
  const stack = new NowPlayingStack(app, settings.stackName, {
    settings,
    description: 'now-playing: a Spotify now-playing endpoint (Lambda, DynamoDB, API Gateway)',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
