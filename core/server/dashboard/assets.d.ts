/** The dashboard's files as text, by the name they are served under (below /ui/, and index.html). */
export declare const embedded: Record<string, string>;
