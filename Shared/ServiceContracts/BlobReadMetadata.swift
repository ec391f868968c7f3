/// Response metadata of the blob service's Read (a Wharf addition; castore clients ignore it).
public enum BlobReadMetadata {
    /// The blob's size in bytes, so that wharfctl shows progress without asking for the chunk list.
    public static let sizeKey = "wharf-blob-size"
}
