//! linli's street and district coordinators and `linlictl`.
//!
//! Empty on purpose: the coordinators arrive with the tiers issue and the query API
//! with the operators' issue. They will run the same replica engine as a community
//! node (`linli-core`), with a different role.
