//! ward box and ward image: the people's front-end on top of the ward
//! runtime. Images and their store, the unpacker, boxes and their
//! supervisor each live in a module named for the concept.

pub mod boxes;
pub mod compress;
pub mod digest;
pub mod image;
pub mod net;
pub mod paths;
pub mod progress;
pub mod store;
pub mod unpack;
