use super::*;
use crate::spec;

fn input(ingress: bool, route: bool, metrics: bool) -> PlanInput {
    PlanInput {
        namespace: "prod".into(),
        app: "web".into(),
        container: "app".into(),
        from_image: "nginx:1.27".into(),
        to_image: "nginx:1.28".into(),
        replicas: 4,
        service: Some("web".into()),
        ingress: ingress.then(|| "web".into()),
        ingress_is_nginx: ingress,
        http_route: route.then(|| "web".into()),
        metrics: if metrics {
            crate::metrics::Access::Url {
                url: "http://ingress/metrics".into(),
            }
        } else {
            crate::metrics::Access::None {
                why: "no ingress controller pod found".into(),
            }
        },
        autoscaler: None,
    }
}

fn builtin(name: &str) -> Spec {
    spec::load(name, None).expect("built-in strategy")
}

/// `rollout plan` output of every built-in strategy, with an nginx Ingress and metrics.
#[test]
fn plans_of_the_builtin_strategies() {
    for name in spec::builtin_names() {
        let router_input = if name == "shadow" {
            input(false, true, true)
        } else {
            input(true, false, true)
        };
        let plan = plan(&builtin(name), &router_input).expect("plan");
        insta::assert_snapshot!(format!("plan_{name}"), plan.render());
    }
}

/// With an autoscaler, every strategy leaves the app's replica count to it: sizes are shares
/// of what the app runs at the time, and the new version gets a copy of the autoscaler.
#[test]
fn plans_of_an_autoscaled_app() {
    for name in ["canary", "blue-green", "recreate", "rolling"] {
        let mut i = input(true, false, true);
        i.autoscaler = Some(crate::app::Autoscaler {
            name: "web".into(),
            min_replicas: 2,
            max_replicas: 10,
        });
        let plan = plan(&builtin(name), &i).expect("plan");
        for step in &plan.steps {
            if let Step::UpdateStable { replicas, .. } = step {
                assert_eq!(
                    *replicas, None,
                    "{name}: the app's count is its autoscaler's"
                );
            }
        }
        let copies = matches!(name, "canary" | "blue-green");
        assert_eq!(
            plan.names.new_autoscaler.is_some(),
            copies,
            "{name}: a copy of the autoscaler only for a new version"
        );
        insta::assert_snapshot!(format!("plan_{name}_autoscaled"), plan.render());
    }
}

#[test]
fn canary_without_ingress_uses_replica_ratio_and_says_so() {
    let plan = plan(&builtin("canary"), &input(false, false, false)).expect("plan");
    assert_eq!(plan.router.name(), "replicas");
    insta::assert_snapshot!("plan_canary_replicas", plan.render());
}

#[test]
fn a_router_without_a_capability_is_rejected_naming_both() {
    let e = plan(&builtin("shadow"), &input(true, false, true)).expect_err("nginx cannot mirror");
    assert!(
        e.to_string()
            .contains("needs request mirroring (to copy requests to the new version), which router ingress-nginx cannot do"),
        "{e}"
    );
    let e = plan(&builtin("ab"), &input(false, false, true)).expect_err("replicas cannot route");
    assert!(e.to_string().contains("router replicas cannot do"), "{e}");
    let by_cookie = spec::parse(
        "strategy: ab\nmatch:\n  - cookie: variant\n    value: b\nduration: 1m\n",
        "my-ab.yaml",
    )
    .expect("spec");
    let e = plan(&by_cookie, &input(true, false, true)).expect_err("cookie value");
    assert!(e.to_string().starts_with("my-ab.yaml:3:"), "{e}");
    assert!(e.to_string().contains("`always`"), "{e}");
    let e = plan(&builtin("ab"), &input(false, true, false)).expect_err("no metrics");
    assert!(
        e.to_string().contains("no ingress controller pod found"),
        "{e}"
    );
}

#[test]
fn strategies_that_need_a_service_say_so() {
    let mut i = input(false, false, false);
    i.service = None;
    let e = plan(&builtin("blue-green"), &i).expect_err("no service");
    assert!(
        e.to_string()
            .contains("no Service in namespace \"prod\" selects the pods of Deployment \"web\""),
        "{e}"
    );
    assert!(plan(&builtin("rolling"), &i).is_ok());
}

#[test]
fn canary_sizes_follow_the_weights() {
    let p = plan(&builtin("canary"), &input(true, false, true)).expect("plan");
    let scales: Vec<i32> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::ScaleNew {
                size: Size::Replicas(replicas),
            } => Some(*replicas),
            _ => None,
        })
        .collect();
    // Created with one pod (10% of 4, rounded up), then 50% → 2, 100% → 4.
    assert!(p.steps.contains(&Step::CreateNew { replicas: 1 }));
    assert_eq!(scales, vec![2, 4]);
    assert!(p.pins_service() && p.creates_new());
    assert_eq!(p.names.new_ingress.as_deref(), Some("web-canary"));
}
