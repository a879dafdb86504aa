//! Health and reflection, answered to real gRPC clients over mutual TLS: what a probe,
//! a load balancer or a grpcurl-style tool sees.

mod common;

use common::*;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::{v1, v1alpha};

async fn status(channel: &Channel, service: &str) -> ServingStatus {
    let answer = HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: service.into() })
        .await
        .unwrap_or_else(|e| panic!("health of '{service}': {e}"));
    ServingStatus::try_from(answer.into_inner().status).expect("a known status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_node_serves_only_while_its_parent_link_is_up_and_its_services_meanwhile() {
    let mut tree = Tree::start(&[("lg-pingdi", &["lg-pingdi-pingdi"])]).await;
    let community = channel(tree.node("lg-pingdi-pingdi")).await;
    let district = channel(tree.node(DISTRICT)).await;
    let up = |channel: Channel| async move { status(&channel, "").await == ServingStatus::Serving };
    eventually("the community serves with its street link up", Duration::from_secs(10), || up(community.clone())).await;
    for service in ["linli.v1.Registry", "linli.v1.Query", "linli.v1.Replication", ""] {
        assert_eq!(status(&district, service).await, ServingStatus::Serving, "district: '{service}'");
    }

    tree.proxy("lg-pingdi-pingdi").cut();
    eventually("the community reports NOT_SERVING while cut off", Duration::from_secs(10), || {
        let community = community.clone();
        async move { status(&community, "").await == ServingStatus::NotServing }
    })
    .await;
    // Its services still serve: the community works offline.
    assert_eq!(status(&community, "linli.v1.Registry").await, ServingStatus::Serving);
    let written = write(tree.node("lg-pingdi-pingdi"), request("lg-pingdi-pingdi", 1)).await;
    assert!(get(tree.node("lg-pingdi-pingdi"), &written.key).await.is_some());

    tree.proxy("lg-pingdi-pingdi").heal();
    eventually("the community serves again after the heal", Duration::from_secs(10), || up(community.clone())).await;
    // An unknown name is NOT_FOUND, as the health protocol says.
    let unknown =
        HealthClient::new(district.clone()).check(HealthCheckRequest { service: "linli.v1.Nope".into() }).await;
    assert_eq!(unknown.expect_err("unknown service").code(), tonic::Code::NotFound);
    tree.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reflection_lists_the_services_and_describes_them_in_v1_and_v1alpha() {
    let mut tree = Tree::start(&[("lg-pingdi", &[])]).await;
    let channel = channel(tree.node("lg-pingdi")).await;
    let expected = ["grpc.health.v1.Health", "linli.v1.Query", "linli.v1.Registry", "linli.v1.Replication"];

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let requests = vec![
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(String::new())),
        },
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                "linli.v1.Query".into(),
            )),
        },
    ];
    let mut answers =
        client.server_reflection_info(tokio_stream::iter(requests)).await.expect("v1 reflection").into_inner();
    let listed = answers.next().await.expect("a list").expect("list answer").message_response;
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) = listed else {
        panic!("expected the list of services, got {listed:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for name in expected {
        assert!(names.iter().any(|n| n == name), "v1 reflection does not list {name}: {names:?}");
    }
    let file = answers.next().await.expect("a file").expect("file answer").message_response;
    let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(file)) = file else {
        panic!("expected the file of linli.v1.Query, got {file:?}");
    };
    assert!(!file.file_descriptor_proto.is_empty(), "no descriptor for linli.v1.Query");

    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1alpha::server_reflection_request::MessageRequest::ListServices(String::new())),
    };
    let mut answers =
        client.server_reflection_info(tokio_stream::iter([request])).await.expect("v1alpha reflection").into_inner();
    let listed = answers.next().await.expect("a list").expect("list answer").message_response;
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) = listed else {
        panic!("expected the list of services, got {listed:?}");
    };
    assert!(list.service.iter().any(|s| s.name == "linli.v1.Registry"), "v1alpha does not list linli.v1.Registry");
    tree.stop_all().await;
}
