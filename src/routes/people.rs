//! People CRUD. Every route needs an authenticated caller; DELETE needs admin.

use actix_web::{HttpResponse, http::header, web};
use chrono::Utc;
use diesel::result::Error as DieselError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::responses::{SessionErrors, TooLarge, WriteErrors};
use crate::{
    auth::{AdminUser, AuthUser},
    db::{
        self,
        models::{Person, PersonFields},
        people,
    },
    errors::{AppError, ErrorBody, FieldError},
    state::AppState,
    validation::name_error,
};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 100;
const MAX_PAGE: i64 = 1_000_000;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    pub id: i32,
    pub first_name: String,
    pub last_name: String,
}

impl From<Person> for PersonView {
    fn from(p: Person) -> Self {
        PersonView {
            id: p.id,
            first_name: p.first_name,
            last_name: p.last_name,
        }
    }
}

/// Both names, 1–30 characters after trimming, no control characters.
/// `Option`s so that a missing one is our own field error.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(examples(json!({"firstName": "Ada", "lastName": "Lovelace"})))]
pub struct PersonRequest {
    #[schema(required, nullable = false, min_length = 1, max_length = 30)]
    first_name: Option<String>,
    #[schema(required, nullable = false, min_length = 1, max_length = 30)]
    last_name: Option<String>,
}

impl PersonRequest {
    /// Both names are required (PUT is a full update); each is checked as
    /// sent and stored trimmed, otherwise verbatim.
    fn validate(self) -> Result<(String, String), AppError> {
        let mut errors = Vec::new();
        let mut check = |field: &'static str, value: Option<String>| {
            let error = value.as_deref().map(name_error);
            let value = value.map(|v| v.trim().to_owned());
            match error {
                None => errors.push(FieldError::new(field, "is required")),
                Some(Some(message)) => errors.push(FieldError::new(field, message)),
                Some(None) => {}
            }
            value
        };
        let first = check("firstName", self.first_name);
        let last = check("lastName", self.last_name);
        match (first, last) {
            (Some(first), Some(last)) if errors.is_empty() => Ok((first, last)),
            _ => Err(AppError::Validation(errors)),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 1 000 000; default 1.
    #[param(nullable = false, minimum = 1)]
    page: Option<i64>,
    /// 1 to 100; default 50.
    #[param(nullable = false, minimum = 1)]
    limit: Option<i64>,
}

/// Ids are positive 32-bit integers: anything non-numeric is a 400, a
/// number that cannot be an id is simply not found.
fn parse_id(raw: &str) -> Result<i32, AppError> {
    let id: i64 = raw
        .parse()
        .map_err(|_| AppError::bad_request("invalid_id", "id must be a positive integer"))?;
    i32::try_from(id)
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AppError::NotFound("Person not found"))
}

fn person_not_found(err: DieselError) -> AppError {
    match err {
        DieselError::NotFound => AppError::NotFound("Person not found"),
        other => other.into(),
    }
}

/// People, ordered by id.
#[utoipa::path(
    get, path = "/api/people", tag = "people",
    params(PageQuery),
    security(("accessCookie" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "One page of people", body = Vec<PersonView>),
        (status = 400, description = "`validation_failed`, `invalid_query`", body = ErrorBody),
        SessionErrors,
    )
)]
pub async fn list(
    _user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = query.page.unwrap_or(1);
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    let mut errors = Vec::new();
    if !(1..=MAX_PAGE).contains(&page) {
        errors.push(FieldError::new("page", "must be between 1 and 1000000"));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 100"));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let offset = (page - 1) * limit;
    let rows = db::run(&state.db, move |conn| {
        Ok(people::list(conn, offset, limit)?)
    })
    .await?;
    let views: Vec<PersonView> = rows.into_iter().map(PersonView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// One person.
#[utoipa::path(
    get, path = "/api/people/{id}", tag = "people",
    params(("id" = i64, Path, description = "A positive integer; anything else is 400 `invalid_id`")),
    security(("accessCookie" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The person", body = PersonView),
        (status = 400, description = "`invalid_id`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        SessionErrors,
    )
)]
pub async fn get(
    _user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&path)?;
    let person = db::run(&state.db, move |conn| {
        people::find(conn, id).map_err(person_not_found)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PersonView::from(person)))
}

/// Creates a person.
#[utoipa::path(
    post, path = "/api/people", tag = "people",
    request_body = PersonRequest,
    security(("accessCookie" = []), ("bearerAuth" = [])),
    responses(
        (status = 201, description = "Created", body = PersonView, headers(("Location" = String, description = "`/api/people/{id}`"))),
        (status = 400, description = "`validation_failed`, `invalid_json`, `invalid_body`", body = ErrorBody),
        SessionErrors, WriteErrors, TooLarge,
    )
)]
pub async fn create(
    _user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<PersonRequest>,
) -> Result<HttpResponse, AppError> {
    let (first_name, last_name) = body.into_inner().validate()?;
    let person = db::run(&state.db, move |conn| {
        let fields = PersonFields {
            first_name: &first_name,
            last_name: &last_name,
        };
        Ok(people::insert(conn, &fields)?)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/people/{}", person.id)))
        .json(PersonView::from(person)))
}

/// Replaces both names (a full update).
#[utoipa::path(
    put, path = "/api/people/{id}", tag = "people",
    params(("id" = i64, Path, description = "A positive integer; anything else is 400 `invalid_id`")),
    request_body = PersonRequest,
    security(("accessCookie" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The updated person", body = PersonView),
        (status = 400, description = "`invalid_id`, `validation_failed`, `invalid_json`, `invalid_body`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        SessionErrors, WriteErrors, TooLarge,
    )
)]
pub async fn update(
    _user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PersonRequest>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&path)?;
    let (first_name, last_name) = body.into_inner().validate()?;
    let now = Utc::now().naive_utc();
    let person = db::run(&state.db, move |conn| {
        let fields = PersonFields {
            first_name: &first_name,
            last_name: &last_name,
        };
        people::update(conn, id, &fields, now).map_err(person_not_found)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PersonView::from(person)))
}

/// Deletes a person; admin only.
#[utoipa::path(
    delete, path = "/api/people/{id}", tag = "people",
    params(("id" = i64, Path, description = "A positive integer; anything else is 400 `invalid_id`")),
    security(("accessCookie" = []), ("bearerAuth" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_id`", body = ErrorBody),
        (status = 403, description = "`insufficient_role` (not an admin), `csrf_rejected`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        // Its own 403 (two causes) instead of `WriteErrors`.
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        SessionErrors,
    )
)]
pub async fn delete(
    admin: AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&path)?;
    let deleted = db::run(&state.db, move |conn| Ok(people::delete(conn, id)?)).await?;
    if deleted == 0 {
        return Err(AppError::NotFound("Person not found"));
    }
    log::info!("person deleted: id={id} by user_id={}", admin.id);
    Ok(HttpResponse::NoContent().finish())
}
