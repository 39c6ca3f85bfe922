/** The one DynamoDB table of the function's state: the shared access token and its lease,
 *  the shared answer, album art, visitors' suggestions, the limits' counters and the
 *  search cache, each under its own key prefix (lambda/src/adapters/dynamodb/mod.rs). */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

/** The construct id the table was first deployed under. Its CloudFormation logical id
 *  (`TokensTable…`) comes from it: a new id would replace the table on the next deploy
 *  and lose what it holds, so it stays, whatever the table's name in the code. */
export const STATE_TABLE_CONSTRUCT_ID = 'Tokens';

export class StateTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    // The schema the function, the tests and `make dev` share: string key `pk`, TTL `ttl`.
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // make destroy removes it, visitors' suggestions with it, and says so first.
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
