//! The AWS Serverless Application Repository metadata, and publishing it offline.

use super::*;

#[test]
fn the_serverless_repository_metadata_has_every_field_as_a_plain_value_within_the_repository_s_limits() {
    let fields: BTreeSet<&str> = application_metadata().keys().map(String::as_str).collect();
    let expected = BTreeSet::from([
        "Name",
        "Description",
        "Author",
        "SpdxLicenseId",
        "LicenseUrl",
        "ReadmeUrl",
        "Labels",
        "HomePageUrl",
        "SemanticVersion",
        "SourceCodeUrl",
    ]);
    // LicenseBody and ReadmeBody would conflict with the URLs.
    assert_eq!(fields, expected);

    // The limits of the AWS SAM documentation's "Metadata section properties"; the repository
    // takes no intrinsic functions, so every value is a plain string.
    let length = |field: &str, max: usize| {
        let count = metadata_text(field).chars().count();
        assert!((1..=max).contains(&count), "{field} has {count} characters, the repository takes 1 to {max}");
    };
    length("Name", 140);
    length("Description", 256);
    length("Author", 127);
    let name = metadata_text("Name");
    assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "Name {name:?}: letters, digits and hyphens only");
    // ^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$
    let author = metadata_text("Author");
    assert!(
        author.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !author.starts_with('-')
            && !author.ends_with('-')
            && !author.contains("--"),
        "Author {author:?}: lower case letters, digits and single hyphens inside"
    );
    let labels = application_metadata()["Labels"].as_array().expect("Labels is a list");
    assert!((1..=10).contains(&labels.len()), "{} labels, the repository takes at most 10", labels.len());
    for label in labels {
        let label = label.as_str().unwrap_or_else(|| panic!("label {label} is not a string"));
        assert!((1..=127).contains(&label.len()), "label {label:?}");
        assert!(label.chars().all(|c| c.is_ascii_alphanumeric() || "+-_:/@".contains(c)), "label {label:?}: ^[a-zA-Z0-9+\\-_:\\/@]+$");
    }
    for field in ["HomePageUrl", "SourceCodeUrl"] {
        assert_eq!(metadata_text(field), env!("CARGO_PKG_REPOSITORY"), "{field} against Cargo.toml's repository");
    }
    assert!(env!("CARGO_PKG_REPOSITORY").starts_with("https://"));
}

#[test]
fn the_published_licence_and_version_are_those_of_cargo_toml() {
    assert_eq!(metadata_text("SpdxLicenseId"), env!("CARGO_PKG_LICENSE"));
    assert_eq!(metadata_text("SemanticVersion"), env!("CARGO_PKG_VERSION"));
    let core = metadata_text("SemanticVersion").split(['-', '+']).next().unwrap();
    let numbers: Vec<&str> = core.split('.').collect();
    assert!(numbers.len() == 3 && numbers.iter().all(|n| n.parse::<u64>().is_ok()), "SemanticVersion {core:?} is not MAJOR.MINOR.PATCH");
}

#[test]
fn the_licence_and_readme_the_metadata_names_are_files_beside_the_template_within_five_megabytes() {
    for field in ["LicenseUrl", "ReadmeUrl"] {
        // `sam package` reads these paths relative to the template, which is at the top of the repository.
        let path = tools::repo_path(metadata_text(field));
        let size = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{field} {}: {e}", path.display())).len();
        assert!(path.is_file() && size > 0 && size <= 5 * 1024 * 1024, "{field} {}: {size} bytes", path.display());
    }
    let licence = tools::read(&tools::repo_path(metadata_text("LicenseUrl")));
    assert!(licence.contains("Apache License") && licence.contains("Version 2.0, January 2004"), "LICENSE is not the Apache License 2.0");
}

#[test]
fn sam_publish_accepts_the_metadata_once_sam_package_has_uploaded_the_licence_and_readme() {
    let python = tools::repo_path(".venv-sam/bin/python");
    assert!(python.exists(), "{} is missing: scripts/setup installs AWS SAM CLI into .venv-sam", python.display());
    let output = tools::run(
        Command::new(python)
            .arg("-c")
            .arg(PUBLISH_OFFLINE)
            .arg(tools::repo_path("template.yaml"))
            // Nothing leaves the machine: no instance metadata lookup, no usage telemetry.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SAM_CLI_TELEMETRY", "0"),
        "",
    );
    assert!(output.status.success(), "publishing offline failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let published = tools::json_stdout("the offline publish", &output);

    // `sam package` uploads each file under its MD5 and writes the S3 location in its place.
    let uploads = published["uploads"].as_object().unwrap();
    let location = |file: &str| {
        let found: Vec<&String> = uploads.iter().filter(|(_, local)| *local == file).map(|(url, _)| url).collect();
        assert_eq!(found.len(), 1, "uploads of {file}: {uploads:?}");
        assert!(found[0].starts_with("s3://package-bucket/"), "{}", found[0]);
        json!(found[0])
    };
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    let (licence, readme) = (location(metadata_text("LicenseUrl")), location(metadata_text("ReadmeUrl")));

    assert_eq!(published["actions"], json!([["CREATE_APPLICATION"], ["UPDATE_APPLICATION", "CREATE_APPLICATION_VERSION"]]));
    let requests = published["requests"].as_array().unwrap();
    let names: Vec<&str> = requests.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(names, ["CreateApplication", "CreateApplication", "UpdateApplication", "CreateApplicationVersion"]);

    let mut expected = application_metadata().clone();
    expected.insert("LicenseUrl".into(), licence);
    expected.insert("ReadmeUrl".into(), readme.clone());
    let create = requests[0][1].as_object().unwrap();
    for (field, value) in &expected {
        assert_eq!(&create[field], value, "CreateApplication {field}");
    }
    assert_eq!(create["SemanticVersion"], env!("CARGO_PKG_VERSION"));
    // The published template is the stack without the repository's metadata.
    for request in [create, requests[3][1].as_object().unwrap()] {
        assert_eq!(request["TemplateBody"]["serverlessRepoMetadata"], false);
        let sections = request["TemplateBody"]["sections"].as_array().unwrap();
        assert!(sections.contains(&json!("Resources")) && sections.contains(&json!("Transform")), "{sections:?}");
    }
    assert_eq!(requests[2][1]["ReadmeUrl"], readme);
    assert_eq!(requests[3][1]["SemanticVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(requests[3][1]["SourceCodeUrl"], env!("CARGO_PKG_REPOSITORY"));
}
