//! Shape checks of the EC2 settings, table-driven.

use super::*;

#[test]
fn resource_ids_take_short_and_long_forms() {
    let cases = [
        ("subnet-0123abcd", "subnet-", true),
        ("subnet-0123456789abcdef0", "subnet-", true),
        ("subnet-0123abc", "subnet-", false),
        ("subnet-0123456789abcdef01", "subnet-", false),
        ("subnet-0123ABCD", "subnet-", false),
        ("sg-0123abcd", "sg-", true),
        ("sg-0123abcd", "subnet-", false),
        ("sg-xyz12345", "sg-", false),
    ];
    for (id, prefix, valid) in cases {
        assert_eq!(is_resource_id(id, prefix), valid, "{id:?}");
    }
}

#[test]
fn amis_are_ids_or_ssm_references() {
    let cases = [
        ("ami-0123abcd", true),
        ("ami-0123456789abcdef0", true),
        (
            "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
            true,
        ),
        ("resolve:ssm:/ghaec2/runner-ami:3", true),
        ("resolve:ssm:", false),
        ("resolve:ssm:/with space", false),
        ("ami-123", false),
        ("ami-0123ABCD", false),
        ("/aws/service/ami", false),
    ];
    for (ami, valid) in cases {
        assert_eq!(is_ami(ami), valid, "{ami:?}");
    }
}

#[test]
fn instance_types_have_family_and_size() {
    let cases = [
        ("m7i.large", true),
        ("c7gn.16xlarge", true),
        ("m7i-flex.large", true),
        ("u-6tb1.metal", true),
        ("r8g.metal-24xl", true),
        ("t3.micro", true),
        ("m7i", false),
        ("m7i.", false),
        (".large", false),
        ("M7i.large", false),
        ("m7i.large.x", false),
        ("7m.large", false),
        ("m7i large", false),
    ];
    for (instance_type, valid) in cases {
        assert_eq!(is_instance_type(instance_type), valid, "{instance_type:?}");
    }
}

#[test]
fn regions_have_the_aws_shape() {
    let cases = [
        ("us-east-1", true),
        ("eu-central-2", true),
        ("us-gov-west-1", true),
        ("us-isob-east-1", true),
        ("useast1", false),
        ("us-east", false),
        ("US-EAST-1", false),
        ("us--1", false),
    ];
    for (region, valid) in cases {
        assert_eq!(is_region(region), valid, "{region:?}");
    }
}

#[test]
fn spot_prices_are_positive_decimals() {
    let cases = [
        ("0.05", true),
        ("1", true),
        ("12.5", true),
        ("0", false),
        ("0.000", false),
        ("-1", false),
        (".5", false),
        ("5.", false),
        ("1e3", false),
        ("0.0.1", false),
        ("$1", false),
    ];
    for (price, valid) in cases {
        assert_eq!(is_positive_decimal(price), valid, "{price:?}");
    }
}

#[test]
fn instance_profiles_are_names_or_arns() {
    let arn = "arn:aws:iam::123456789012:instance-profile/ghaec2-runner";
    let cases = [
        (
            "ghaec2-runner",
            Some(InstanceProfile::Name("ghaec2-runner".to_owned())),
        ),
        (
            "a+=,.@_-b",
            Some(InstanceProfile::Name("a+=,.@_-b".to_owned())),
        ),
        (arn, Some(InstanceProfile::Arn(arn.to_owned()))),
        (
            "arn:aws-cn:iam::123456789012:instance-profile/path/to/name",
            Some(InstanceProfile::Arn(
                "arn:aws-cn:iam::123456789012:instance-profile/path/to/name".to_owned(),
            )),
        ),
        ("arn:aws:iam::123456789012:role/ghaec2-runner", None),
        ("arn:aws:iam::12345:instance-profile/x", None),
        ("arn:aws:s3::123456789012:instance-profile/x", None),
        ("has space", None),
        ("", None),
    ];
    for (value, expected) in cases {
        assert_eq!(instance_profile(value), expected, "{value:?}");
    }
}
