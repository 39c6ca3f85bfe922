/** Prints the default stack's template as JSON, for tests outside jest (no package needed). */
import { buildApp, WITHOUT_PACKAGE } from '../lib/app';

const { app, stack } = buildApp({ [WITHOUT_PACKAGE]: 'true' }, undefined, undefined);
process.stdout.write(JSON.stringify(app.synth().getStackArtifact(stack.artifactId).template));
