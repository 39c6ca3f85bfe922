/** The DynamoDB table that caches the access token and holds the refresh lease. */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export class TokenTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    // The schema the function, the tests and `make dev` share: string key `pk`, TTL `ttl`.
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // A cache: losing it costs one token refresh, so nothing is kept on delete.
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
