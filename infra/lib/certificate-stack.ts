/** The edge's certificate, in us-east-1 (the only region CloudFront takes one from), when
 *  the stack itself is elsewhere and the domain's Route 53 zone can validate it. */
import { Stack, StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';

export const CERTIFICATE_REGION = 'us-east-1';

export interface CertificateStackProps extends StackProps {
  readonly domainName: string;
  readonly hostedZone: { readonly id: string; readonly name: string };
}

export class CertificateStack extends Stack {
  public readonly certificate: acm.Certificate;

  constructor(scope: Construct, id: string, props: CertificateStackProps) {
    super(scope, id, props);
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
      hostedZoneId: props.hostedZone.id,
      zoneName: props.hostedZone.name,
    });
    this.certificate = new acm.Certificate(this, 'Certificate', {
      domainName: props.domainName,
      validation: acm.CertificateValidation.fromDns(zone),
    });
  }
}
