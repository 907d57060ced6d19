use super::vars::Vars;

/// The directory served at `/` after the API routes, when it exists.
#[derive(Debug, Clone)]
pub struct StaticSettings {
    pub dir: String,
}

impl StaticSettings {
    pub(super) fn from_vars(vars: &Vars) -> Self {
        StaticSettings {
            dir: vars
                .get("STATIC_DIR")
                .unwrap_or_else(|| "static".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::load_with;

    fn load(pairs: &[(&str, &str)]) -> StaticSettings {
        load_with(pairs, StaticSettings::from_vars)
    }

    #[test]
    fn the_directory_defaults_to_static() {
        assert_eq!(load(&[]).dir, "static");
        assert_eq!(load(&[("STATIC_DIR", " ")]).dir, "static");
        assert_eq!(load(&[("STATIC_DIR", "/srv/www")]).dir, "/srv/www");
    }
}
