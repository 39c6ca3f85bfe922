#!/usr/bin/env node
/** The CDK entry point: settings from context (`cdk.json`, `-c key=value`), then the stack. */
import { buildApp } from '../lib/app';
import { SettingsError } from '../lib/settings';

try {
  buildApp();
} catch (e) {
  if (e instanceof SettingsError) {
    console.error(`now-playing: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
