//! The launch template ghaec2 keeps per scale set (`ghaec2-<name>`), so nothing needs
//! preparing in EC2 beyond what the `EC2_*` settings name.
//!
//! [`ensure`] creates the template from its [`TemplateSpec`] when missing and adds a version
//! (made default) when the fingerprint of the default version differs, so a configuration
//! change takes effect at the next launch and an unchanged one costs two describe calls per
//! process. The requests are built once, for the real calls and `--dry-run` alike.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::operation::create_launch_template::builders::CreateLaunchTemplateFluentBuilder;
use aws_sdk_ec2::operation::create_launch_template_version::builders::CreateLaunchTemplateVersionFluentBuilder;

use super::error::{Detail, code_of, from_sdk, malformed};
use super::template_spec::{TemplateRef, TemplateSpec};
use crate::ports::PortError;

/// Error code of a launch template name EC2 does not know.
const TEMPLATE_NOT_FOUND: &str = "InvalidLaunchTemplateName.NotFoundException";

/// Makes sure the template exists with `spec`'s fingerprint as its default version, and
/// returns the version to launch.
pub async fn ensure(ec2: &Client, spec: &TemplateSpec) -> Result<TemplateRef, PortError> {
    let Some(TemplateRef {
        id,
        version: default,
    }) = find(ec2, &spec.name).await?
    else {
        return create(ec2, spec).await;
    };
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_id(&id)
        .versions(default.to_string())
        .send()
        .await
        .map_err(|e| from_sdk("ec2 describe launch template version", &e, Detail::Full))?;
    let description = spec.description();
    if versions
        .launch_template_versions()
        .iter()
        .any(|v| v.version_description() == Some(description.as_str()))
    {
        return Ok(TemplateRef {
            id,
            version: default,
        });
    }
    add_version(ec2, spec, id).await
}

/// The CreateLaunchTemplate request, tags included; `--dry-run` sends the same one, so IAM
/// judges exactly what the real call will ask.
pub fn create_request(ec2: &Client, spec: &TemplateSpec) -> CreateLaunchTemplateFluentBuilder {
    ec2.create_launch_template()
        .launch_template_name(&spec.name)
        .version_description(spec.description())
        .launch_template_data(spec.data())
        .tag_specifications(spec.template_tags())
}

/// The CreateLaunchTemplateVersion request for template `id` (shared with `--dry-run`).
pub fn version_request(
    ec2: &Client,
    spec: &TemplateSpec,
    id: &str,
) -> CreateLaunchTemplateVersionFluentBuilder {
    ec2.create_launch_template_version()
        .launch_template_id(id)
        .version_description(spec.description())
        .launch_template_data(spec.data())
}

/// The id and default version of the template named `name`, if it exists.
pub async fn find(ec2: &Client, name: &str) -> Result<Option<TemplateRef>, PortError> {
    const OP: &str = "ec2 describe launch template";
    let described = ec2
        .describe_launch_templates()
        .launch_template_names(name)
        .send()
        .await;
    let template = match described {
        Ok(out) => out.launch_templates().first().cloned(),
        Err(e) if code_of(&e) == Some(TEMPLATE_NOT_FOUND) => None,
        Err(e) => return Err(from_sdk(OP, &e, Detail::Full)),
    };
    let Some(template) = template else {
        return Ok(None);
    };
    let id = template
        .launch_template_id()
        .ok_or_else(|| malformed(OP, "template without id"))?;
    let version = template
        .default_version_number()
        .ok_or_else(|| malformed(OP, "template without default version"))?;
    Ok(Some(TemplateRef {
        id: id.to_owned(),
        version,
    }))
}

async fn create(ec2: &Client, spec: &TemplateSpec) -> Result<TemplateRef, PortError> {
    const OP: &str = "ec2 create launch template";
    let created = create_request(ec2, spec).send().await;
    match created {
        Ok(out) => {
            let template = out
                .launch_template()
                .ok_or_else(|| malformed(OP, "no template"))?;
            let id = template
                .launch_template_id()
                .ok_or_else(|| malformed(OP, "template without id"))?;
            tracing::info!(
                template = spec.name,
                template_id = id,
                fingerprint = spec.fingerprint(),
                "Created the launch template."
            );
            Ok(TemplateRef {
                id: id.to_owned(),
                version: template.default_version_number().unwrap_or(1),
            })
        }
        // Another invocation created it first: use or update theirs.
        Err(e) if code_of(&e) == Some("InvalidLaunchTemplateName.AlreadyExistsException") => {
            Box::pin(ensure(ec2, spec)).await
        }
        Err(e) => Err(from_sdk(OP, &e, Detail::Full)),
    }
}

async fn add_version(
    ec2: &Client,
    spec: &TemplateSpec,
    id: String,
) -> Result<TemplateRef, PortError> {
    const OP: &str = "ec2 create launch template version";
    let created = version_request(ec2, spec, &id)
        .send()
        .await
        .map_err(|e| from_sdk(OP, &e, Detail::Full))?;
    let version = created
        .launch_template_version()
        .and_then(|v| v.version_number())
        .ok_or_else(|| malformed(OP, "no version number"))?;
    ec2.modify_launch_template()
        .launch_template_id(&id)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(|e| from_sdk("ec2 set default launch template version", &e, Detail::Full))?;
    tracing::info!(
        template = spec.name,
        template_id = id,
        version,
        fingerprint = spec.fingerprint(),
        "Settings changed: new default launch template version."
    );
    Ok(TemplateRef { id, version })
}

/// Deletes the template `name` with all its versions (`ghaec2 --teardown`); `Ok(false)` when
/// there is none (already deleted, or never created). Looked up by name first, then deleted by
/// id: moto answers a delete by an unknown name with `MissingParameter`, not EC2's NotFound.
pub async fn delete(ec2: &Client, name: &str) -> Result<bool, PortError> {
    let Some(TemplateRef { id, .. }) = find(ec2, name).await? else {
        return Ok(false);
    };
    match ec2
        .delete_launch_template()
        .launch_template_id(&id)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(
                template = name,
                template_id = id,
                "Deleted the launch template."
            );
            Ok(true)
        }
        // Deleted by another run between the lookup and here.
        Err(e) if code_of(&e) == Some("InvalidLaunchTemplateId.NotFound") => Ok(false),
        Err(e) => Err(from_sdk("ec2 delete launch template", &e, Detail::Full)),
    }
}
