/** C sources imported `with { type: "text" }` arrive as strings. */
declare module "*.c" {
  const source: string;
  export default source;
}
