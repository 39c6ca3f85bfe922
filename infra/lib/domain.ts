/** The optional custom domain: a regional domain name mapped to the API's stage. */
import { Aws, CfnRule, Fn } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { certificateRegion } from './settings';

export interface CustomDomainProps {
  readonly api: apigw.RestApi;
  readonly domainName: string;
  /** Route 53 zone: the certificate is DNS-validated in it and an alias record is made. */
  readonly hostedZone?: { readonly id: string; readonly name: string };
  /** An existing certificate, for DNS hosted elsewhere: the owner adds a CNAME. */
  readonly certificateArn?: string;
}

export class CustomDomain extends Construct {
  public readonly domain: apigw.DomainName;
  public readonly url: string;

  constructor(scope: Construct, id: string, props: CustomDomainProps) {
    super(scope, id);
    const zone = props.hostedZone
      ? route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
          hostedZoneId: props.hostedZone.id,
          zoneName: props.hostedZone.name,
        })
      : undefined;
    if (props.certificateArn) {
      // Settings refuse a certificate from another region when synthesis knows the region;
      // this rule refuses it in CloudFormation otherwise, before any resource is created.
      const region = certificateRegion(props.certificateArn);
      new CfnRule(this, 'CertificateInStackRegion', {
        assertions: [{
          assert: Fn.conditionEquals(region, Aws.REGION),
          assertDescription: `setting certificateArn: the certificate is in ${region}; a regional custom domain needs a certificate in the stack's region`,
        }],
      });
    }
    const certificate = props.certificateArn
      ? acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn)
      : new acm.Certificate(this, 'Certificate', {
          domainName: props.domainName,
          validation: acm.CertificateValidation.fromDns(zone),
        });
    this.domain = new apigw.DomainName(this, 'Domain', {
      domainName: props.domainName,
      certificate,
      endpointType: apigw.EndpointType.REGIONAL,
      securityPolicy: apigw.SecurityPolicy.TLS_1_2,
    });
    this.domain.addBasePathMapping(props.api, { stage: props.api.deploymentStage });
    if (zone) {
      const target = route53.RecordTarget.fromAlias(new targets.ApiGatewayDomain(this.domain));
      new route53.ARecord(this, 'Alias', { zone, recordName: props.domainName, target });
      // Regional API Gateway domains answer over IPv6 too.
      new route53.AaaaRecord(this, 'AliasIpv6', { zone, recordName: props.domainName, target });
    }
    this.url = `https://${props.domainName}`;
  }
}
