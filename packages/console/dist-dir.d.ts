/** The folder of the built console (index.html, assets/). */
export declare const CONSOLE_DIST_DIR: string;
