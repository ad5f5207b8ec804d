//! The workspaces group, read the way its users meet it: a personal workspace at sign-up, new
//! workspaces, invites read back from the mail (the outbox on the embedded backend, the
//! emulator's SES on AWS) and accepted, roles and their refusals, removal, switching, waitlists.

use std::time::Duration;

use base64::Engine;
use http::Method;
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, SentMail, SignedIn, TestApp, TestResponse};
use serde_json::{Value, json};

on_both_backends!(
    sign_up_makes_a_personal_workspace_its_user_owns,
    a_created_workspace_is_owned_by_its_creator,
    an_invite_mail_signs_a_new_address_in_as_a_verified_member_without_a_password,
    an_invite_accepted_by_an_existing_account_adds_the_membership,
    owners_and_admins_manage_roles_within_the_rules,
    the_last_owner_can_neither_leave_nor_be_demoted,
    a_removed_member_loses_the_workspace_at_once,
    switching_keeps_the_session_and_later_refreshes_keep_the_workspace,
    a_refresh_racing_a_switch_gets_its_successor_and_a_password_change_ends_the_switched_session,
    switching_to_a_workspace_the_caller_is_not_in_answers_403,
    another_workspaces_ids_answer_404,
    a_reused_replaced_revoked_or_expired_invite_is_refused,
    twenty_concurrent_accepts_of_one_invite_give_exactly_one_success,
    waitlist_signups_are_idempotent_and_per_workspace,
);

// ---- helpers -------------------------------------------------------------------------------

fn unique_email() -> String {
    format!("invitee-{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> TestResponse {
    app.with_bearer(method, path, token, body.as_ref()).await
}

fn claims_of(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn org_of(response: &TestResponse) -> String {
    response.json["user"]["organization_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no organization_id: {}", response.text))
        .to_owned()
}

/// A new workspace owned by `owner`; answers its id.
async fn new_workspace(app: &TestApp, owner: &str, name: &str) -> String {
    let response = call(
        app,
        Method::POST,
        "/workspaces",
        owner,
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.json["id"].as_str().expect("an id").to_owned()
}

async fn invite(
    app: &TestApp,
    token: &str,
    workspace: &str,
    email: &str,
    role: &str,
) -> TestResponse {
    call(
        app,
        Method::POST,
        &format!("/workspaces/{workspace}/invites"),
        token,
        Some(json!({"email": email, "role": role})),
    )
    .await
}

/// The latest invite mail to `email`.
async fn invite_mail(app: &TestApp, email: &str) -> SentMail {
    app.sent_mail()
        .await
        .into_iter()
        .rfind(|mail| mail.to.iter().any(|to| to.eq_ignore_ascii_case(email)))
        .unwrap_or_else(|| panic!("no mail was sent to {email}"))
}

/// The accept link of the latest invite mail to `email`, as a path on the app.
async fn accept_path(app: &TestApp, email: &str) -> String {
    let mail = invite_mail(app, email).await;
    let links = mail.links();
    assert_eq!(links.len(), 1, "one link expected in: {}", mail.body);
    let link = &links[0];
    let path = link
        .strip_prefix(&app.state.config.public_url)
        .unwrap_or_else(|| panic!("{link} is not on the public URL"));
    assert!(path.starts_with("/auth/invites/accept?token="), "{path}");
    path.to_owned()
}

fn token_in(path: &str) -> String {
    path.split_once("token=").expect("a token").1.to_owned()
}

/// Invite `email` as `role` and accept through the emailed link; answers the accept response.
async fn invited_and_accepted(
    app: &TestApp,
    inviter: &str,
    workspace: &str,
    email: &str,
    role: &str,
) -> TestResponse {
    let response = invite(app, inviter, workspace, email, role).await;
    assert_eq!(response.status, 201, "{}", response.text);
    let accepted = app.get(&accept_path(app, email).await).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    accepted
}

fn access(response: &TestResponse) -> String {
    response.json["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {}", response.text))
        .to_owned()
}

/// An owner with a new team workspace and a member who joined it by invite.
struct Team {
    owner: SignedIn,
    workspace: String,
    member_token: String,
    member_id: String,
}

async fn team(app: &TestApp, role: &str) -> Team {
    let owner = app.signed_up().await;
    let workspace = new_workspace(app, owner.access_token(), "Team").await;
    let accepted =
        invited_and_accepted(app, owner.access_token(), &workspace, &unique_email(), role).await;
    Team {
        member_token: access(&accepted),
        member_id: accepted.json["user"]["id"].as_str().unwrap().to_owned(),
        owner,
        workspace,
    }
}

async fn roles(app: &TestApp, token: &str, workspace: &str) -> Vec<(String, String)> {
    let response = call(
        app,
        Method::GET,
        &format!("/workspaces/{workspace}/members"),
        token,
        None,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn set_role(
    app: &TestApp,
    token: &str,
    workspace: &str,
    user: &str,
    role: &str,
) -> TestResponse {
    call(
        app,
        Method::PATCH,
        &format!("/workspaces/{workspace}/members/{user}"),
        token,
        Some(json!({"role": role})),
    )
    .await
}

async fn remove(app: &TestApp, token: &str, workspace: &str, user: &str) -> TestResponse {
    call(
        app,
        Method::DELETE,
        &format!("/workspaces/{workspace}/members/{user}"),
        token,
        None,
    )
    .await
}

async fn switch(app: &TestApp, token: &str, workspace: &str) -> TestResponse {
    call(
        app,
        Method::POST,
        "/auth/switch-workspace",
        token,
        Some(json!({"workspace_id": workspace})),
    )
    .await
}

// ---- scenarios -----------------------------------------------------------------------------

async fn sign_up_makes_a_personal_workspace_its_user_owns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signed_up().await;

    let listed = call(&app, Method::GET, "/workspaces", user.access_token(), None).await;

    assert_eq!(listed.status, 200, "{}", listed.text);
    let workspaces = listed.json["workspaces"].as_array().unwrap();
    assert_eq!(workspaces.len(), 1, "{}", listed.text);
    assert_eq!(workspaces[0]["role"], "owner");
    assert_eq!(workspaces[0]["personal"], true);
    assert_eq!(workspaces[0]["id"], org_of(&user.response).as_str());
    let claims = claims_of(user.access_token());
    assert_eq!(claims["org"], workspaces[0]["id"]);
    assert_eq!(claims["role"], "owner");
}

async fn a_created_workspace_is_owned_by_its_creator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signed_up().await;

    let created = call(
        &app,
        Method::POST,
        "/workspaces",
        user.access_token(),
        Some(json!({"name": "  Research  "})),
    )
    .await;

    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["name"], "Research");
    assert_eq!(created.json["role"], "owner");
    assert!(created.json["created_at"].as_str().unwrap().ends_with('Z'));
    let id = created.json["id"].as_str().unwrap();
    let listed = call(&app, Method::GET, "/workspaces", user.access_token(), None).await;
    assert_eq!(listed.json["workspaces"].as_array().unwrap().len(), 2);
    assert_eq!(
        roles(&app, user.access_token(), id).await,
        vec![(user.user_id().to_owned(), "owner".to_owned())]
    );
    let nameless = call(
        &app,
        Method::POST,
        "/workspaces",
        user.access_token(),
        Some(json!({"name": " "})),
    )
    .await;
    nameless.assert_error(400, "invalid_request");
    assert_eq!(nameless.json["field"], "name");
}

async fn an_invite_mail_signs_a_new_address_in_as_a_verified_member_without_a_password(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_up().await;
    let workspace = new_workspace(&app, owner.access_token(), "Lighthouse").await;
    let email = unique_email();

    let invited = invite(&app, owner.access_token(), &workspace, &email, "member").await;

    assert_eq!(invited.status, 201, "{}", invited.text);
    assert_eq!(invited.json["email"], email.as_str());
    assert_eq!(invited.json["role"], "member");
    assert!(invited.json["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(invited.json.get("token").is_none(), "{}", invited.text);
    let mail = invite_mail(&app, &email).await;
    assert!(mail.subject.contains("Lighthouse"), "{}", mail.subject);
    assert!(mail.subject.contains("Test User"), "{}", mail.subject);
    assert!(mail.body.contains("member"), "{}", mail.body);
    assert!(mail.body.contains("7 days"), "{}", mail.body);

    let accepted = app.get(&accept_path(&app, &email).await).await;

    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json["user"]["email"], email.as_str());
    assert_eq!(accepted.json["user"]["email_verified"], true);
    assert_eq!(accepted.json["user"]["has_password"], false);
    assert_eq!(org_of(&accepted), workspace);
    let claims = claims_of(&access(&accepted));
    assert_eq!(claims["role"], "member");
    assert_eq!(claims["amr"], json!(["email_link"]));
    let members = roles(&app, owner.access_token(), &workspace).await;
    assert!(members.contains(&(
        accepted.json["user"]["id"].as_str().unwrap().to_owned(),
        "member".to_owned()
    )));
    // Like every account, the new one has a personal workspace too.
    let listed = call(&app, Method::GET, "/workspaces", &access(&accepted), None).await;
    assert_eq!(listed.json["workspaces"].as_array().unwrap().len(), 2);
}

async fn an_invite_accepted_by_an_existing_account_adds_the_membership(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_up().await;
    let workspace = new_workspace(&app, owner.access_token(), "Shipyard").await;
    let invitee = app.signed_up().await;
    let invited = invite(
        &app,
        owner.access_token(),
        &workspace,
        &invitee.user.email.to_uppercase(),
        "admin",
    )
    .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    let token = token_in(&accept_path(&app, &invitee.user.email).await);

    let accepted = app
        .post("/auth/invites/accept", &json!({"token": token}))
        .await;

    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json["user"]["id"], invitee.user_id());
    assert_eq!(accepted.json["user"]["has_password"], true);
    assert_eq!(accepted.json["user"]["email_verified"], true);
    assert_eq!(org_of(&accepted), workspace);
    assert_eq!(claims_of(&access(&accepted))["role"], "admin");
    let listed = call(
        &app,
        Method::GET,
        "/workspaces",
        invitee.access_token(),
        None,
    )
    .await;
    let ids: Vec<&str> = listed.json["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&workspace.as_str()), "{}", listed.text);
    // Inviting a member again is refused.
    invite(
        &app,
        owner.access_token(),
        &workspace,
        &invitee.user.email,
        "member",
    )
    .await
    .assert_error(409, "already_member");
}

async fn owners_and_admins_manage_roles_within_the_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let team = team(&app, "member").await;
    let (owner, ws) = (team.owner.access_token(), team.workspace.as_str());

    // A member invites nobody and cannot promote themselves.
    invite(&app, &team.member_token, ws, &unique_email(), "member")
        .await
        .assert_error(403, "forbidden");
    set_role(&app, &team.member_token, ws, &team.member_id, "admin")
        .await
        .assert_error(403, "forbidden");

    // The owner makes them an admin; an admin invites admins and members, never owners.
    let promoted = set_role(&app, owner, ws, &team.member_id, "admin").await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.json["role"], "admin");
    let admin = &team.member_token;
    assert_eq!(
        invite(&app, admin, ws, &unique_email(), "admin")
            .await
            .status,
        201
    );
    invite(&app, admin, ws, &unique_email(), "owner")
        .await
        .assert_error(403, "forbidden");
    // An admin neither makes an owner (themselves included) nor demotes one.
    set_role(&app, admin, ws, &team.member_id, "owner")
        .await
        .assert_error(403, "forbidden");
    set_role(&app, admin, ws, team.owner.user_id(), "member")
        .await
        .assert_error(403, "forbidden");
    set_role(&app, owner, ws, &team.member_id, "chief")
        .await
        .assert_error(400, "invalid_request");

    // The owner makes another owner.
    let owned = set_role(&app, owner, ws, &team.member_id, "owner").await;
    assert_eq!(owned.status, 200, "{}", owned.text);
    let listed = roles(&app, owner, ws).await;
    assert!(listed.contains(&(team.member_id.clone(), "owner".to_owned())));
}

async fn the_last_owner_can_neither_leave_nor_be_demoted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let team = team(&app, "admin").await;
    let (owner, ws, me) = (
        team.owner.access_token(),
        team.workspace.as_str(),
        team.owner.user_id(),
    );

    remove(&app, owner, ws, me)
        .await
        .assert_error(409, "last_owner");
    set_role(&app, owner, ws, me, "admin")
        .await
        .assert_error(409, "last_owner");

    // With a second owner, the first may step down and then leave.
    assert_eq!(
        set_role(&app, owner, ws, &team.member_id, "owner")
            .await
            .status,
        200
    );
    let stepped_down = set_role(&app, owner, ws, me, "admin").await;
    assert_eq!(stepped_down.status, 200, "{}", stepped_down.text);
    let left = remove(&app, owner, ws, me).await;
    assert_eq!(left.status, 200, "{}", left.text);
    assert_eq!(
        roles(&app, &team.member_token, ws).await,
        vec![(team.member_id.clone(), "owner".to_owned())]
    );
    remove(&app, &team.member_token, ws, &team.member_id)
        .await
        .assert_error(409, "last_owner");
}

async fn a_removed_member_loses_the_workspace_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_up().await;
    let ws = new_workspace(&app, owner.access_token(), "Team").await;
    let email = unique_email();
    let accepted = invited_and_accepted(&app, owner.access_token(), &ws, &email, "member").await;
    let member_token = access(&accepted);
    let member_id = accepted.json["user"]["id"].as_str().unwrap().to_owned();
    let refresh_token = accepted.json["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&app, Method::GET, "/auth/validate", &member_token, None)
            .await
            .status,
        200
    );

    let gate_check = |token: String| {
        let app = &app;
        async move {
            let bearer = format!("Bearer {token}");
            app.request(
                Method::GET,
                "/auth/check",
                None,
                &[
                    ("authorization", bearer.as_str()),
                    ("x-forwarded-method", "GET"),
                    ("x-forwarded-uri", "/anything"),
                ],
            )
            .await
        }
    };
    assert_eq!(gate_check(member_token.clone()).await.status, 200);

    let removed = remove(&app, owner.access_token(), &ws, &member_id).await;

    assert_eq!(removed.status, 200, "{}", removed.text);
    call(&app, Method::GET, "/auth/validate", &member_token, None)
        .await
        .assert_error(401, "invalid_token");
    gate_check(member_token.clone())
        .await
        .assert_error(401, "invalid_token");
    call(
        &app,
        Method::GET,
        &format!("/workspaces/{ws}/members"),
        &member_token,
        None,
    )
    .await
    .assert_error(404, "not_found");
    call(&app, Method::GET, "/auth/waitlist", &member_token, None)
        .await
        .assert_error(401, "invalid_token");
    // The session lives on: a refresh lands in the workspace they still have (their personal
    // one), where the token is good again.
    let refreshed = app.refresh(&refresh_token).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_ne!(org_of(&refreshed), ws);
    let refreshed_token = access(&refreshed);
    assert_ne!(claims_of(&refreshed_token)["org"], ws.as_str());
    assert_eq!(
        call(&app, Method::GET, "/auth/validate", &refreshed_token, None)
            .await
            .status,
        200
    );
    // Removing them again finds nobody.
    remove(&app, owner.access_token(), &ws, &member_id)
        .await
        .assert_error(404, "not_found");
}

async fn switching_keeps_the_session_and_later_refreshes_keep_the_workspace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signed_up().await;
    let personal = org_of(&user.response);
    let team = new_workspace(&app, user.access_token(), "Team").await;

    let switched = switch(&app, user.access_token(), &team).await;

    assert_eq!(switched.status, 200, "{}", switched.text);
    assert_eq!(org_of(&switched), team);
    let before = claims_of(user.access_token());
    let after = claims_of(&access(&switched));
    assert_eq!(after["org"], team.as_str());
    assert_eq!(after["role"], "owner");
    assert_eq!(after["sid"], before["sid"], "the same session");
    assert_eq!(after["amr"], before["amr"]);
    assert_eq!(after["plan"], before["plan"]);
    assert_eq!(after["features"], before["features"]);
    let new_refresh = switched.json["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, user.refresh_token());
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/auth/validate",
            &access(&switched),
            None
        )
        .await
        .status,
        200
    );

    // A later refresh keeps the switched workspace.
    let refreshed = app.refresh(new_refresh).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(claims_of(&access(&refreshed))["org"], team.as_str());
    // The refresh token from before the switch was rotated out: presenting it is a replay.
    app.refresh(user.refresh_token())
        .await
        .assert_error(401, "invalid_token");
    // And back again.
    let fresh = app.signed_in(&user.user).await;
    assert_eq!(
        org_of(&fresh.response),
        team,
        "sign-in starts in the last workspace"
    );
    let back = switch(&app, fresh.access_token(), &personal).await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(org_of(&back), personal);
}

/// A switch retires the refresh token as a refresh does: another tab refreshing with the token
/// from before the switch, within the grace, gets the same successor (whose later refreshes
/// are in the switched workspace), not a revoked session. A password change made elsewhere ends
/// the switched session like any other.
async fn a_refresh_racing_a_switch_gets_its_successor_and_a_password_change_ends_the_switched_session(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let user = app.signed_up().await;
    let team = new_workspace(&app, user.access_token(), "Team").await;

    let switched = switch(&app, user.access_token(), &team).await;
    assert_eq!(switched.status, 200, "{}", switched.text);
    let successor = switched.json["refresh_token"].as_str().unwrap().to_owned();

    let raced = app.refresh(user.refresh_token()).await;
    assert_eq!(raced.status, 200, "{}", raced.text);
    assert_eq!(raced.json["refresh_token"], successor.as_str());

    let elsewhere = app.signed_in(&user.user).await;
    let changed = call(
        &app,
        Method::POST,
        "/auth/password",
        elsewhere.access_token(),
        Some(json!({
            "current_password": user.user.password,
            "new_password": "Quartz-lantern-88-meadow",
        })),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    switch(&app, &access(&switched), &team)
        .await
        .assert_error(401, "invalid_token");
    app.refresh(&successor)
        .await
        .assert_error(401, "invalid_token");
}

async fn switching_to_a_workspace_the_caller_is_not_in_answers_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stranger = app.signed_up().await;
    let user = app.signed_up().await;
    let foreign = org_of(&stranger.response);

    switch(&app, user.access_token(), &foreign)
        .await
        .assert_error(403, "forbidden");
    switch(&app, user.access_token(), &uuid::Uuid::new_v4().to_string())
        .await
        .assert_error(403, "forbidden");
    app.post("/auth/switch-workspace", &json!({"workspace_id": foreign}))
        .await
        .assert_error(401, "authentication_required");
    call(
        &app,
        Method::POST,
        "/auth/switch-workspace",
        user.access_token(),
        Some(json!({})),
    )
    .await
    .assert_error(400, "invalid_request");
}

async fn another_workspaces_ids_answer_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let team = team(&app, "member").await;
    let outsider = app.signed_up().await;
    let (ws, token) = (team.workspace.as_str(), outsider.access_token());
    let pending = invite(
        &app,
        team.owner.access_token(),
        ws,
        &unique_email(),
        "member",
    )
    .await;
    let invite_id = pending.json["id"].as_str().unwrap();

    for (method, path, body) in [
        (Method::GET, format!("/workspaces/{ws}/members"), None),
        (Method::GET, format!("/workspaces/{ws}/invites"), None),
        (
            Method::POST,
            format!("/workspaces/{ws}/invites"),
            Some(json!({"email": unique_email(), "role": "member"})),
        ),
        (
            Method::PATCH,
            format!("/workspaces/{ws}/members/{}", team.member_id),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::DELETE,
            format!("/workspaces/{ws}/members/{}", team.member_id),
            None,
        ),
        (
            Method::DELETE,
            format!("/workspaces/{ws}/invites/{invite_id}"),
            None,
        ),
        (
            Method::GET,
            "/workspaces/not-a-uuid/members".to_owned(),
            None,
        ),
    ] {
        call(&app, method.clone(), &path, token, body)
            .await
            .assert_error(404, "not_found");
    }
    // The outsider's own workspace does not hold the team's invite or member either.
    let own = org_of(&outsider.response);
    call(
        &app,
        Method::DELETE,
        &format!("/workspaces/{own}/invites/{invite_id}"),
        token,
        None,
    )
    .await
    .assert_error(404, "not_found");
    set_role(&app, token, &own, &team.member_id, "admin")
        .await
        .assert_error(404, "not_found");
    // Nothing changed in the team.
    assert_eq!(roles(&app, team.owner.access_token(), ws).await.len(), 2);
}

async fn a_reused_replaced_revoked_or_expired_invite_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_up().await;
    let ws = new_workspace(&app, owner.access_token(), "Team").await;
    let token = owner.access_token();

    // Reused.
    let email = unique_email();
    invited_and_accepted(&app, token, &ws, &email, "member").await;
    let path = accept_path(&app, &email).await;
    app.get(&path).await.assert_error(400, "invalid_token");

    // Replaced by a newer invite to the same address.
    let email = unique_email();
    assert_eq!(invite(&app, token, &ws, &email, "member").await.status, 201);
    let older = accept_path(&app, &email).await;
    assert_eq!(invite(&app, token, &ws, &email, "admin").await.status, 201);
    let newer = accept_path(&app, &email).await;
    assert_ne!(older, newer);
    app.get(&older).await.assert_error(400, "invalid_token");
    let listed = call(
        &app,
        Method::GET,
        &format!("/workspaces/{ws}/invites"),
        token,
        None,
    )
    .await;
    let pending: Vec<&Value> = listed.json["invites"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["email"] == email.as_str())
        .collect();
    assert_eq!(pending.len(), 1, "{}", listed.text);
    assert_eq!(pending[0]["role"], "admin");

    // Revoked.
    let revoked = call(
        &app,
        Method::DELETE,
        &format!(
            "/workspaces/{ws}/invites/{}",
            pending[0]["id"].as_str().unwrap()
        ),
        token,
        None,
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    app.get(&newer).await.assert_error(400, "invalid_token");

    // Malformed.
    app.post("/auth/invites/accept", &json!({"token": "nope"}))
        .await
        .assert_error(400, "invalid_token");
    app.get("/auth/invites/accept")
        .await
        .assert_error(400, "invalid_request");

    // Expired: an app whose invites last one second.
    let short = TestApp::spawn_with(backend, |config| {
        config.invite_ttl = Duration::from_secs(1);
    })
    .await;
    let owner = short.signed_up().await;
    let ws = new_workspace(&short, owner.access_token(), "Brief").await;
    let email = unique_email();
    let sent = invite(&short, owner.access_token(), &ws, &email, "member").await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let path = accept_path(&short, &email).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    short.get(&path).await.assert_error(400, "invalid_token");
}

async fn twenty_concurrent_accepts_of_one_invite_give_exactly_one_success(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_up().await;
    let ws = new_workspace(&app, owner.access_token(), "Race").await;
    let email = unique_email();
    assert_eq!(
        invite(&app, owner.access_token(), &ws, &email, "member")
            .await
            .status,
        201
    );
    let path = accept_path(&app, &email).await;

    let answers = futures::future::join_all((0..20).map(|_| app.get(&path))).await;

    let successes = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        successes,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|a| a.status != 200) {
        answer.assert_error(400, "invalid_token");
    }
    let members = roles(&app, owner.access_token(), &ws).await;
    assert_eq!(members.len(), 2, "{members:?}");
}

async fn waitlist_signups_are_idempotent_and_per_workspace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signed_up().await;
    let token = user.access_token();

    let first = call(&app, Method::PUT, "/auth/waitlist/agents-v2", token, None).await;
    let second = call(&app, Method::PUT, "/auth/waitlist/agents-v2", token, None).await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(first.json["signed_up"], true);
    assert_eq!(first.json["created_at"], second.json["created_at"]);
    let listed = call(&app, Method::GET, "/auth/waitlist", token, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.json["signups"],
        json!([{"feature": "agents-v2", "created_at": first.json["created_at"]}])
    );
    let checked = call(&app, Method::GET, "/auth/waitlist/agents-v2", token, None).await;
    assert_eq!(checked.json["signed_up"], true, "{}", checked.text);

    // Another workspace of the same user has its own list.
    let team = new_workspace(&app, token, "Team").await;
    let switched = switch(&app, token, &team).await;
    let team_token = access(&switched);
    let other = call(
        &app,
        Method::GET,
        "/auth/waitlist/agents-v2",
        &team_token,
        None,
    )
    .await;
    assert_eq!(other.json["signed_up"], false, "{}", other.text);

    for _ in 0..2 {
        let left = call(
            &app,
            Method::DELETE,
            "/auth/waitlist/agents-v2",
            token,
            None,
        )
        .await;
        assert_eq!(left.status, 200, "{}", left.text);
        assert_eq!(left.json["signed_up"], false);
    }
    let listed = call(&app, Method::GET, "/auth/waitlist", token, None).await;
    assert_eq!(listed.json["signups"], json!([]));

    for bad in ["Agents", "a%20b", &"x".repeat(65)] {
        let refused = call(
            &app,
            Method::PUT,
            &format!("/auth/waitlist/{bad}"),
            token,
            None,
        )
        .await;
        refused.assert_error(400, "invalid_request");
        assert_eq!(refused.json["field"], "feature");
    }
}
