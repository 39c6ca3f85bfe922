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
      // Regional API Gateway domains answer over IPv6 too.
      aliasRecords(this, zone, props.domainName, route53.RecordTarget.fromAlias(new targets.ApiGatewayDomain(this.domain)));
    }
    this.url = `https://${props.domainName}`;
  }
}

/** The construct id the alias records live under, with the edge on or off: one path, so one
 *  pair of logical ids, and switching `edge` updates the records rather than creating a
 *  second pair first (which Route 53 refuses: the name "already exists"). */
export const ALIASES_SCOPE = 'CustomDomain';

/** The A and AAAA aliases of `name` in `zone`, pointing at `target`, under `scope`. */
export function aliasRecords(scope: Construct, zone: route53.IHostedZone, name: string, target: route53.RecordTarget): void {
  new route53.ARecord(scope, 'Alias', { zone, recordName: name, target });
  new route53.AaaaRecord(scope, 'AliasIpv6', { zone, recordName: name, target });
}
