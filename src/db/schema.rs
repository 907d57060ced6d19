// @generated automatically by Diesel CLI.

diesel::table! {
    people (id) {
        id -> Int4,
        first_name -> Text,
        last_name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    throttle_buckets (bucket_key) {
        bucket_key -> Text,
        full_at -> Timestamp,
        pending -> Int4,
        pending_until -> Timestamp,
        version -> Int4,
    }
}

diesel::table! {
    users (id) {
        id -> Int4,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        refresh_token_hash -> Nullable<Text>,
        refresh_token_expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        refresh_family -> Nullable<Text>,
        previous_refresh_token_hash -> Nullable<Text>,
        refresh_token_rotated_at -> Nullable<Timestamp>,
        session_version -> Int4,
    }
}

diesel::allow_tables_to_appear_in_same_query!(people, throttle_buckets, users,);
